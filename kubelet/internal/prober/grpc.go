package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// grpcProbe asks the server at host:port for the health of service over
// the standard gRPC health protocol (grpc.health.v1.Health/Check, in
// plain text, as Kubernetes): SERVING is a success. The errors are
// Kubernetes' probe messages, which the Unhealthy events show.
func grpcProbe(ctx context.Context, host string, port int, service string, timeout time.Duration) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithUserAgent(userAgent()),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}),
	)
	if err != nil {
		return fmt.Errorf("error: failed to connect service at %q: %+v", addr, err)
	}
	defer conn.Close()

	// Connect first, retrying as gRPC does until the timeout, so a server
	// that is not listening yet is told apart from one that answers badly
	// (Kubernetes dials with WithBlock for the same).
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if state == connectivity.Shutdown {
			return fmt.Errorf("error: failed to connect service at %q: connection shut down", addr)
		}
		if !conn.WaitForStateChange(ctx, state) {
			return fmt.Errorf("timeout: failed to connect service %q within %v: %+v", addr, timeout, ctx.Err())
		}
	}

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return fmt.Errorf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message())
			case codes.DeadlineExceeded:
				return fmt.Errorf("timeout: health rpc did not complete within %v", timeout)
			}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("timeout: health rpc did not complete within %v", timeout)
		}
		return fmt.Errorf("error: health rpc probe failed: %+v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("service unhealthy (responded with %q)", resp.GetStatus().String())
	}
	return nil
}
