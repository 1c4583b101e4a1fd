package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"coracle.dev/addons/ingress/internal/proxyconfig"
	"coracle.dev/addons/ingress/internal/routing"
	"coracle.dev/shared/testnet"
)

// proxied is a configuration that proxies every request to upstream,
// listening on a free loopback port; it returns the configuration and
// the plain HTTP address.
func proxied(t *testing.T, upstream string) ([]byte, string) {
	t.Helper()
	ports := testnet.FreePorts(t, 2)
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	table := &routing.Table{Default: routing.Host{Fallback: &routing.Backend{Upstreams: []string{upstream}}}}
	cfg, err := proxyconfig.Build(table, proxyconfig.Options{
		HTTPAddress: httpAddr, HTTPSAddress: "127.0.0.1:" + strconv.Itoa(ports[1]),
		StorageDir: t.TempDir(), DrainTimeout: 10 * time.Second, LogCore: LogCore, ConnTracker: ConnTracker,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, httpAddr
}

func newEngine(t *testing.T, log *zap.Logger) *Engine {
	t.Helper()
	e, err := New(log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func backend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func get(t *testing.T, addr string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestOneEnginePerProcess(t *testing.T) {
	e, err := New(zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(zap.NewNop()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second New: %v, want ErrRunning", err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply([]byte(`{}`)); err == nil {
		t.Error("Apply after Close succeeded")
	}
	newEngine(t, zap.NewNop())
}

func TestApplyServesAndSkipsWhatRuns(t *testing.T) {
	e := newEngine(t, zap.NewNop())
	cfg, addr := proxied(t, backend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "from backend") }))
	if loaded, err := e.Apply(cfg); err != nil || !loaded {
		t.Fatalf("Apply = %v, %v; want loaded", loaded, err)
	}
	if body, err := get(t, addr); err != nil || body != "from backend" {
		t.Fatalf("through the proxy: %q, %v", body, err)
	}
	if loaded, err := e.Apply(cfg); err != nil || loaded {
		t.Fatalf("Apply of the running configuration = %v, %v; want not loaded", loaded, err)
	}
	// A configuration Caddy refuses leaves the old one serving.
	if _, err := e.Apply([]byte(`{"apps":{"http":{"servers":{"x":{"listen":["not an address"]}}}}}`)); err == nil {
		t.Fatal("a broken configuration was applied")
	}
	if body, err := get(t, addr); err != nil || body != "from backend" {
		t.Fatalf("after a refused configuration: %q, %v", body, err)
	}
}

func TestCloseLetsRequestsInFlightFinish(t *testing.T) {
	e := newEngine(t, zap.NewNop())
	arrived, release := make(chan struct{}), make(chan struct{})
	cfg, addr := proxied(t, backend(t, func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	if _, err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		body, err := get(t, addr)
		got <- result{body, err}
	}()
	<-arrived
	if n := e.OpenConnections(); n != 1 {
		t.Errorf("open connections %d, want 1", n)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close(context.Background()) }()
	// New connections are refused at once...
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after Close")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a request in flight", err)
	default:
	}
	// ...while the request in flight finishes, and Close waits for it.
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("request in flight: %q, %v", r.body, r.err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := e.OpenConnections(); n != 0 {
		t.Errorf("open connections after Close: %d", n)
	}
}

func TestCaddyLogsGoToTheLogger(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := newEngine(t, zap.New(core))
	cfg, _ := proxied(t, "127.0.0.1:1")
	if _, err := e.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	running := logs.FilterMessage("server running").All()
	if len(running) == 0 {
		t.Fatalf("no \"server running\" entry among %d", logs.Len())
	}
	if name := running[0].LoggerName; !strings.HasPrefix(name, "caddy.") {
		t.Errorf("Caddy's entry logged as %q, want a caddy. name", name)
	}
	if n := logs.FilterLevelExact(zap.DebugLevel).Len(); n != 0 {
		t.Errorf("%d debug entries passed an info logger", n)
	}
}
