// Package testserver runs the built apiserver (bin/apiserver, found by
// testbin) as a process for tests: with its embedded etcd, or on an
// external etcd cluster, bound to 127.0.0.1 on free ports, its data
// directory and log in the test's temporary directory:
//
//	ts := testserver.Start(t)
//	client := kubernetes.NewForConfigOrDie(ts.Config)
//	ts.Restart() // same data directory, same ports
//
// Components are clients of the apiserver, and their tests reach it the
// way they do in production, over HTTPS; so shared imports no component.
// The apiserver's own tests start it in-process instead.
//
// The process is stopped when the test ends (SIGTERM, then SIGKILL), and
// its log's tail is printed if the test failed.
package testserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
)

// Timeouts for an apiserver's lifecycle on a busy machine.
const (
	// ReadyTimeout bounds a start: embedded etcd, watch caches, bootstrap.
	ReadyTimeout = 90 * time.Second
	// StopTimeout bounds a SIGTERM shutdown.
	StopTimeout = 45 * time.Second

	// startAttempts bounds the retries on a port another process took
	// between our picking it and the apiserver binding it.
	startAttempts = 3
	// cleanupTimeout is how long the end of a test waits for a SIGTERM
	// shutdown before it kills the process.
	cleanupTimeout = 10 * time.Second
	logTailLines   = 60
)

// TestServer is a running bin/apiserver process.
type TestServer struct {
	// Config is a client-go configuration with admin credentials.
	Config *rest.Config
	// Kubeconfig is DataDir/admin.conf, with admin credentials (for
	// kubectl and the components).
	Kubeconfig string
	// DataDir holds the embedded etcd, the certificates (pki/) and
	// admin.conf.
	DataDir string
	// Port is the HTTPS port on 127.0.0.1.
	Port int
	// EtcdClientURL and EtcdPeerURL are the embedded etcd's listeners;
	// empty with external etcd.
	EtcdClientURL, EtcdPeerURL string
	// LogPath is the file the process's output is appended to.
	LogPath string

	tb   testing.TB
	bin  string
	opts options
	proc *testproc.Process
}

type options struct {
	// serviceAccountAdmission keeps the ServiceAccount admission on.
	serviceAccountAdmission bool
	etcdServers             []string
	args                    []string
	dataDirArgs             []func(dataDir string) []string
}

// Option adjusts how the apiserver is started.
type Option func(*options)

// WithArgs adds command-line flags, e.g. "--watch-cache-size=8".
func WithArgs(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// WithDataDirArgs adds flags that name files of the data directory,
// which is made anew for each attempt to start: args(dataDir) is called
// for each. E.g. the CA the apiserver creates there, for
// --kubelet-certificate-authority.
func WithDataDirArgs(args func(dataDir string) []string) Option {
	return func(o *options) { o.dataDirArgs = append(o.dataDirArgs, args) }
}

// WithServiceAccountAdmission keeps Kubernetes' ServiceAccount admission
// on. Without it the apiserver runs with --disable-admission-plugins
// ServiceAccount, as Kubernetes' own integration tests do: that plugin
// refuses pods whose namespace has no ServiceAccount yet, which only the
// controller manager creates, and most tests run none.
func WithServiceAccountAdmission() Option {
	return func(o *options) { o.serviceAccountAdmission = true }
}

// WithEtcdServers runs the apiserver on an external etcd cluster instead
// of its embedded etcd.
func WithEtcdServers(urls ...string) Option {
	return func(o *options) { o.etcdServers = append(o.etcdServers, urls...) }
}

// Start starts bin/apiserver in a fresh data directory and waits until
// /readyz answers 200. It fails the test, with the log's tail, if the
// apiserver does not get ready.
func Start(tb testing.TB, opts ...Option) *TestServer {
	tb.Helper()
	ts := &TestServer{tb: tb, bin: testbin.Path(tb, "apiserver")}
	for _, o := range opts {
		o(&ts.opts)
	}
	// Made before the cleanup below is registered, so removed after it
	// has printed the log.
	root := tb.TempDir()
	tb.Cleanup(ts.cleanup)
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		// A fresh directory per attempt: an embedded etcd that began on
		// ports another process took must not be reused on new ones.
		base, err := os.MkdirTemp(root, "apiserver")
		if err != nil {
			tb.Fatal(err)
		}
		ts.DataDir = filepath.Join(base, "data")
		ts.Kubeconfig = filepath.Join(ts.DataDir, "admin.conf")
		ts.LogPath = filepath.Join(base, "apiserver.log")
		ports := testnet.FreePorts(tb, 3)
		ts.Port = ports[0]
		if len(ts.opts.etcdServers) == 0 {
			ts.EtcdClientURL = "https://127.0.0.1:" + strconv.Itoa(ports[1])
			ts.EtcdPeerURL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
		}
		if lastErr = ts.startAndWait(); lastErr == nil {
			return ts
		}
		ts.proc.Kill()
		if !testproc.LogContains(ts.LogPath, "address already in use") {
			break
		}
		tb.Logf("apiserver attempt %d: a port was taken; retrying on new ports", attempt)
	}
	tb.Fatalf("start apiserver: %v (its log's tail follows)", lastErr)
	return nil
}

func (ts *TestServer) args() []string {
	args := []string{
		"--data-dir", ts.DataDir,
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ts.Port),
		"--log-format", "console",
	}
	if len(ts.opts.etcdServers) > 0 {
		args = append(args, "--etcd-servers", strings.Join(ts.opts.etcdServers, ","))
	} else {
		args = append(args, "--embedded-etcd-client-url", ts.EtcdClientURL, "--embedded-etcd-peer-url", ts.EtcdPeerURL)
	}
	if !ts.opts.serviceAccountAdmission {
		args = append(args, "--disable-admission-plugins", "ServiceAccount")
	}
	args = append(args, ts.opts.args...)
	for _, f := range ts.opts.dataDirArgs {
		args = append(args, f(ts.DataDir)...)
	}
	return args
}

func (ts *TestServer) startAndWait() error {
	proc, err := testproc.Spawn("apiserver", ts.bin, ts.args(), ts.LogPath)
	if err != nil {
		ts.tb.Fatal(err)
	}
	ts.proc = proc
	var cfg *rest.Config
	var client *http.Client
	err = proc.Await(ReadyTimeout, func() (bool, string) {
		if client == nil {
			c, err := ts.loadConfig()
			if err != nil {
				return false, err.Error()
			}
			if client, err = rest.HTTPClientFor(c); err != nil {
				return false, err.Error()
			}
			client.Timeout = 5 * time.Second
			cfg = c
		}
		code, body, err := ts.get(client, "/readyz")
		switch {
		case err != nil:
			return false, err.Error()
		case code != http.StatusOK || body != "ok":
			return false, fmt.Sprintf("/readyz: %d %q", code, body)
		}
		return true, ""
	})
	if err == nil {
		ts.Config = cfg
	}
	return err
}

// loadConfig reads admin.conf, which the apiserver writes as it starts,
// and checks that it names this server.
func (ts *TestServer) loadConfig() (*rest.Config, error) {
	if _, err := os.Stat(ts.Kubeconfig); err != nil {
		return nil, fmt.Errorf("admin kubeconfig not written yet: %w", err)
	}
	cfg, err := kubeconfig.RESTConfig(ts.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if cfg.Host != ts.URL() {
		return nil, fmt.Errorf("%s names server %q, want %q", ts.Kubeconfig, cfg.Host, ts.URL())
	}
	return cfg, nil
}

func (ts *TestServer) get(client *http.Client, path string) (int, string, error) {
	resp, err := client.Get(ts.URL() + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body), err
}

// cleanup stops the process at the end of the test, quickly: the test's
// verdict does not depend on it.
func (ts *TestServer) cleanup() {
	if ts.proc != nil && !ts.proc.Exited() {
		if err := ts.proc.Stop(cleanupTimeout); err != nil {
			ts.tb.Logf("stop apiserver: %v", err)
		}
	}
	if ts.tb.Failed() && ts.LogPath != "" {
		ts.tb.Logf("apiserver log %s (tail):\n%s", ts.LogPath, testproc.LogTail(ts.LogPath, logTailLines))
	}
}

// URL is the apiserver's base URL, https://127.0.0.1:Port.
func (ts *TestServer) URL() string { return "https://127.0.0.1:" + strconv.Itoa(ts.Port) }

// String describes the server for test logs.
func (ts *TestServer) String() string {
	return fmt.Sprintf("apiserver at %s (pid %d, log %s)", ts.URL(), ts.proc.PID(), ts.LogPath)
}

// Process is the running process; a new one after Restart.
func (ts *TestServer) Process() *testproc.Process { return ts.proc }

// Client is a typed clientset with admin credentials and client-side rate
// limits high enough for load tests.
func (ts *TestServer) Client() *kubernetes.Clientset {
	ts.tb.Helper()
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		ts.tb.Fatalf("apiserver clientset: %v", err)
	}
	return c
}

// Readyz probes /readyz once and returns the status code and body.
func (ts *TestServer) Readyz() (int, string, error) {
	client, err := rest.HTTPClientFor(ts.Config)
	if err != nil {
		return 0, "", err
	}
	client.Timeout = 5 * time.Second
	return ts.get(client, "/readyz")
}

// WaitReadyz polls /readyz until it answers 200 "ok" or ctx ends.
func (ts *TestServer) WaitReadyz(ctx context.Context) error {
	var last string
	for {
		code, body, err := ts.Readyz()
		if err == nil && code == http.StatusOK && body == "ok" {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %q", code, body)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("apiserver not ready: last /readyz: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and waits for a clean exit (status 0).
func (ts *TestServer) Stop() error { return ts.proc.Stop(StopTimeout) }

// Restart starts the apiserver again on the same data directory and ports
// (stopping it first, with SIGTERM, if it still runs) and waits until it is
// ready; Config then points at the new process.
func (ts *TestServer) Restart() {
	ts.tb.Helper()
	if !ts.proc.Exited() {
		if err := ts.Stop(); err != nil {
			ts.tb.Fatalf("restart apiserver: %v", err)
		}
	}
	if err := ts.startAndWait(); err != nil {
		ts.proc.Kill()
		ts.tb.Fatalf("restart apiserver: %v (its log's tail follows)", err)
	}
}
