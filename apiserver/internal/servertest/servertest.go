// Package servertest starts the apiserver in-process, with a real
// embedded etcd, on random loopback ports in a temporary directory, for the
// apiserver's own tests, which reach into it (its Config, CA, advertised
// address):
//
//	ts := servertest.Start(t, servertest.WithConfig(func(c *server.Config) { c.WatchCacheSize = 8 }))
//	client := kubernetes.NewForConfigOrDie(ts.Config)
//
// Everything stops when the test ends. Other modules' tests start the
// built binary as a process instead (coracle.dev/shared/testserver): they
// are the apiserver's clients, not its parts.
package servertest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"k8s.io/client-go/rest"

	"coracle.dev/apiserver/server"
)

// TestServer is a running apiserver.
type TestServer struct {
	Server *server.Server
	// Config is a client-go configuration with admin credentials.
	Config *rest.Config
	// Kubeconfig is the path of the admin kubeconfig (for kubectl).
	Kubeconfig string
	// DataDir holds etcd's data and the certificates.
	DataDir string
	// Cfg is the configuration the server was started with.
	Cfg server.Config

	t       testing.TB
	stopped bool
}

// Option adjusts the configuration before the server starts.
type Option func(*server.Config)

// WithConfig applies f to the configuration.
func WithConfig(f func(*server.Config)) Option { return Option(f) }

// Start starts an apiserver and waits until it is ready.
func Start(t testing.TB, opts ...Option) *TestServer {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.BindAddress = "127.0.0.1"
	cfg.SecurePort = 0
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	// As Kubernetes' integration tests: no controller manager makes the
	// default ServiceAccounts that admission would ask pods for. Tests of
	// the admission turn it back on (WithConfig).
	cfg.DisableAdmissionPlugins = []string{server.AdmissionServiceAccount}
	for _, o := range opts {
		o(&cfg)
	}
	ts := &TestServer{t: t, DataDir: cfg.DataDir}
	ts.start(cfg)
	t.Cleanup(ts.Stop)
	return ts
}

func (ts *TestServer) start(cfg server.Config) {
	ts.t.Helper()
	var lastErr error
	// Free ports are picked before etcd binds them; on the rare collision,
	// pick again.
	for attempt := 0; attempt < 5; attempt++ {
		if len(cfg.EtcdServers) == 0 && (attempt > 0 || cfg.EmbeddedEtcdClientURL == server.DefaultEtcdClientURL) {
			cfg.EmbeddedEtcdClientURL = "https://" + freeAddr(ts.t)
			cfg.EmbeddedEtcdPeerURL = "https://" + freeAddr(ts.t)
		}
		srv, err := server.New(cfg)
		if err != nil {
			ts.t.Fatalf("servertest: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		err = srv.Start(ctx)
		if err != nil {
			cancel()
			lastErr = err
			if strings.Contains(err.Error(), "address already in use") {
				continue
			}
			ts.t.Fatalf("servertest: start: %v", err)
		}
		select {
		case <-srv.Ready():
		case <-ctx.Done():
			_ = srv.Close()
			cancel()
			ts.t.Fatalf("servertest: apiserver not ready within 90s")
		}
		cancel()
		rc, err := srv.RESTConfig()
		if err != nil {
			_ = srv.Close()
			ts.t.Fatalf("servertest: client config: %v", err)
		}
		ts.Server, ts.Config, ts.Kubeconfig, ts.Cfg, ts.stopped = srv, rc, srv.AdminKubeconfig(), cfg, false
		return
	}
	ts.t.Fatalf("servertest: %v", lastErr)
}

// Stop shuts the apiserver down; the data directory stays until the test
// ends, so Restart finds it.
func (ts *TestServer) Stop() {
	if ts.stopped || ts.Server == nil {
		return
	}
	ts.stopped = true
	if err := ts.Server.Close(); err != nil {
		ts.t.Logf("servertest: close: %v", err)
	}
}

// Restart stops the apiserver and starts a new one on the same data
// directory and etcd ports; Config and Kubeconfig point at the new one.
func (ts *TestServer) Restart() {
	ts.t.Helper()
	ts.Stop()
	cfg := ts.Cfg
	ts.start(cfg)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// String describes the server for test logs.
func (ts *TestServer) String() string { return fmt.Sprintf("apiserver at %s", ts.Server.URL()) }
