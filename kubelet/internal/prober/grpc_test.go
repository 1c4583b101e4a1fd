package prober

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// serve starts a gRPC server on a free loopback port, with the health
// service when withHealth, and returns its port.
func serve(t *testing.T, withHealth bool) (int, *health.Server, chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agents := make(chan string, 16)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("user-agent")) > 0 {
			select {
			case agents <- md.Get("user-agent")[0]:
			default:
			}
		}
		return h(ctx, req)
	}))
	hs := health.NewServer()
	if withHealth {
		healthpb.RegisterHealthServer(srv, hs)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().(*net.TCPAddr).Port, hs, agents
}

// probeGRPC runs a gRPC probe through probeOnce, as the manager does.
func probeGRPC(port int, service *string, timeout time.Duration) error {
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: int32(port), Service: service}}}
	return (&Manager{}).probeOnce(context.Background(), key{}, &v1.Container{Name: "c"}, p, "127.0.0.1", timeout)
}

func TestGRPCProbe(t *testing.T) {
	port, hs, agents := serve(t, true)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus("cache", healthpb.HealthCheckResponse_SERVING)
	bare, _, _ := serve(t, false)

	// A port nobody listens on: listen, take the port, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()

	// A server that accepts connections but never speaks HTTP/2.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	for _, tc := range []struct {
		name    string
		port    int
		service *string
		timeout time.Duration
		want    string // "" is success; else a substring of the error
	}{
		{name: "the server's overall health, SERVING", port: port, timeout: 5 * time.Second},
		{name: "a named service SERVING", port: port, service: ptr.To("cache"), timeout: 5 * time.Second},
		{name: "a named service NOT_SERVING", port: port, service: ptr.To("db"), timeout: 5 * time.Second,
			want: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "an unknown service", port: port, service: ptr.To("nope"), timeout: 5 * time.Second,
			want: "error: health rpc probe failed: rpc error: code = NotFound"},
		{name: "no health service", port: bare, timeout: 5 * time.Second,
			want: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)"},
		{name: "nothing listening", port: closed, timeout: 500 * time.Millisecond,
			want: `timeout: failed to connect service "127.0.0.1:` + strconv.Itoa(closed) + `" within 500ms`},
		{name: "a server that never answers", port: mute.Addr().(*net.TCPAddr).Port, timeout: 500 * time.Millisecond,
			want: "timeout: failed to connect service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := probeGRPC(tc.port, tc.service, tc.timeout)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("probe failed: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			// A probe never outlives its timeout by much.
			if d := time.Since(start); d > tc.timeout+2*time.Second {
				t.Errorf("took %v with a timeout of %v", d, tc.timeout)
			}
		})
	}

	// The health service changes its mind: so does the probe.
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	if err := probeGRPC(port, ptr.To("db"), 5*time.Second); err != nil {
		t.Errorf("after SERVING: %v", err)
	}
	select {
	case ua := <-agents:
		if !strings.HasPrefix(ua, "kube-probe/1.") {
			t.Errorf("user agent %q, want kube-probe/<version> first", ua)
		}
	default:
		t.Error("no user agent seen")
	}
}
