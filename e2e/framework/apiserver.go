package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"coracle.dev/shared/testbin"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/kubeconfig"
)

// Timeouts for an apiserver's lifecycle on a busy machine.
const (
	// ReadyTimeout bounds a start: embedded etcd, watch caches, bootstrap.
	ReadyTimeout = 90 * time.Second
	// StopTimeout bounds a SIGTERM shutdown.
	StopTimeout = 45 * time.Second

	startAttempts = 3
)

// APIServerOptions adjust how the apiserver is started.
type APIServerOptions struct {
	// EtcdServers are external etcd client URLs; none starts the
	// apiserver's embedded etcd on two free loopback ports.
	EtcdServers []string
	// Args are further command-line flags.
	Args []string
}

// APIServer is a running bin/apiserver process.
type APIServer struct {
	// DataDir holds the embedded etcd, the certificates and admin.conf.
	DataDir string
	// Kubeconfig is DataDir/admin.conf, with admin credentials.
	Kubeconfig string
	// Port is the HTTPS port on 127.0.0.1; URL is https://127.0.0.1:Port.
	Port int
	URL  string
	// EtcdClientURL and EtcdPeerURL are the embedded etcd's listeners;
	// empty with external etcd.
	EtcdClientURL, EtcdPeerURL string
	// LogPath is the file the process's output is appended to.
	LogPath string

	t    testing.TB
	bin  string
	opts APIServerOptions
	proc *Process
}

// StartAPIServer starts bin/apiserver bound to 127.0.0.1 on free ports, in
// a fresh data directory, and waits until /readyz answers 200. The process
// is killed when the test ends, and its log's tail printed if the test
// failed.
func StartAPIServer(t testing.TB, opts APIServerOptions) *APIServer {
	t.Helper()
	s := &APIServer{t: t, bin: testbin.Path(t, "apiserver"), opts: opts}
	// Made before the cleanup below is registered, so removed after it
	// has printed the log.
	root := t.TempDir()
	t.Cleanup(func() {
		if s.proc != nil {
			s.proc.Kill()
		}
		if t.Failed() && s.LogPath != "" {
			t.Logf("apiserver log %s (tail):\n%s", s.LogPath, LogTail(s.LogPath, 60))
		}
	})
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		// A fresh directory per attempt: an embedded etcd that began on
		// ports another process took must not be reused on new ones.
		base, err := os.MkdirTemp(root, "apiserver")
		if err != nil {
			t.Fatal(err)
		}
		s.DataDir = filepath.Join(base, "data")
		s.Kubeconfig = filepath.Join(s.DataDir, "admin.conf")
		s.LogPath = filepath.Join(base, "apiserver.log")
		ports := FreePorts(t, 3)
		s.Port = ports[0]
		s.URL = "https://127.0.0.1:" + strconv.Itoa(s.Port)
		if len(opts.EtcdServers) == 0 {
			s.EtcdClientURL = "http://127.0.0.1:" + strconv.Itoa(ports[1])
			s.EtcdPeerURL = "http://127.0.0.1:" + strconv.Itoa(ports[2])
		}
		lastErr = s.startAndWait()
		if lastErr == nil {
			return s
		}
		s.proc.Kill()
		if !logContains(s.LogPath, "address already in use") {
			break
		}
		t.Logf("apiserver attempt %d: a port was taken; retrying on new ports", attempt)
	}
	t.Fatalf("start apiserver: %v (its log's tail follows)", lastErr)
	return nil
}

func (s *APIServer) args() []string {
	args := []string{
		"--data-dir", s.DataDir,
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(s.Port),
		"--log-format", "console",
	}
	if len(s.opts.EtcdServers) > 0 {
		args = append(args, "--etcd-servers", strings.Join(s.opts.EtcdServers, ","))
	} else {
		args = append(args, "--embedded-etcd-client-url", s.EtcdClientURL, "--embedded-etcd-peer-url", s.EtcdPeerURL)
	}
	return append(args, s.opts.Args...)
}

func (s *APIServer) startAndWait() error {
	proc, err := startProcess("apiserver", s.bin, s.args(), s.LogPath)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	s.proc = proc
	return s.waitReady(ReadyTimeout)
}

// waitReady polls /readyz, trusting the CA from admin.conf, until it
// answers 200 "ok", the process exits, or timeout passes.
func (s *APIServer) waitReady(timeout time.Duration) error {
	var client *http.Client
	var last string
	ok := poll(100*time.Millisecond, timeout, s.proc.Done(), func() bool {
		if client == nil {
			c, err := s.probeClient()
			if err != nil {
				last = err.Error()
				return false
			}
			client = c
		}
		code, body, err := s.get(client, "/readyz")
		switch {
		case err != nil:
			last = err.Error()
		case code != http.StatusOK || body != "ok":
			last = fmt.Sprintf("/readyz: %d %q", code, body)
		default:
			return true
		}
		return false
	})
	switch {
	case ok:
		return nil
	case s.proc.Exited():
		return fmt.Errorf("apiserver (pid %d) exited before it was ready: %s", s.proc.PID(), s.proc.ExitDescription())
	default:
		return fmt.Errorf("apiserver (pid %d) not ready within %s: %s", s.proc.PID(), timeout, last)
	}
}

// probeClient is an HTTPS client trusting only the cluster CA named in
// admin.conf, without credentials; it checks that admin.conf points at
// this server.
func (s *APIServer) probeClient() (*http.Client, error) {
	if _, err := os.Stat(s.Kubeconfig); err != nil {
		return nil, fmt.Errorf("admin kubeconfig not written yet: %w", err)
	}
	cfg, err := kubeconfig.RESTConfig(s.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if cfg.Host != s.URL {
		return nil, fmt.Errorf("%s names server %q, want %q", s.Kubeconfig, cfg.Host, s.URL)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.CAData) {
		return nil, fmt.Errorf("%s: no CA certificate", s.Kubeconfig)
	}
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		Timeout:   5 * time.Second,
	}, nil
}

func (s *APIServer) get(client *http.Client, path string) (int, string, error) {
	resp, err := client.Get(s.URL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body), err
}

// Readyz probes /readyz once and returns the status code and body.
func (s *APIServer) Readyz() (int, string, error) {
	client, err := s.probeClient()
	if err != nil {
		return 0, "", err
	}
	return s.get(client, "/readyz")
}

// RESTConfig loads admin.conf as a client-go configuration, with client
// side rate limits high enough for load tests.
func (s *APIServer) RESTConfig() *rest.Config {
	s.t.Helper()
	cfg, err := kubeconfig.RESTConfig(s.Kubeconfig)
	if err != nil {
		s.t.Fatalf("apiserver client config: %v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	return cfg
}

// Client is a typed clientset with admin credentials.
func (s *APIServer) Client() *kubernetes.Clientset {
	s.t.Helper()
	c, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		s.t.Fatalf("apiserver clientset: %v", err)
	}
	return c
}

// PID is the current process's id.
func (s *APIServer) PID() int { return s.proc.PID() }

// Done is closed once the current process has exited.
func (s *APIServer) Done() <-chan struct{} { return s.proc.Done() }

// ExitCode is the current process's exit status (-1 if a signal ended it),
// once Done is closed.
func (s *APIServer) ExitCode() int { return s.proc.ExitCode() }

// ExitDescription says how the current process ended, once Done is closed.
func (s *APIServer) ExitDescription() string { return s.proc.ExitDescription() }

// Signal sends sig to the current process.
func (s *APIServer) Signal(sig syscall.Signal) error { return s.proc.Signal(sig) }

// Kill sends SIGKILL, as a power cut would, and waits until the process is
// gone.
func (s *APIServer) Kill() { s.proc.Kill() }

// Stop sends SIGTERM and waits for a clean exit (status 0).
func (s *APIServer) Stop() error { return s.proc.Stop(StopTimeout) }

// Restart starts the apiserver again on the same data directory and ports
// (stopping it first, with SIGTERM, if it still runs) and waits until it is
// ready.
func (s *APIServer) Restart() {
	s.t.Helper()
	if !s.proc.Exited() {
		if err := s.Stop(); err != nil {
			s.t.Fatalf("restart apiserver: %v", err)
		}
	}
	if err := s.startAndWait(); err != nil {
		if !s.proc.Exited() {
			s.proc.Kill()
		}
		s.t.Fatalf("restart apiserver: %v (its log's tail follows)", err)
	}
}

// WaitReadyz polls /readyz until it answers 200 "ok" or ctx ends.
func (s *APIServer) WaitReadyz(ctx context.Context) error {
	var last string
	for {
		code, body, err := s.Readyz()
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
