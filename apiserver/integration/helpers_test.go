package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/apiserver/internal/servertest"
)

// cluster is a running apiserver and clients for it.
type cluster struct {
	*servertest.TestServer
	client *kubernetes.Clientset
	http   *http.Client
}

func start(t *testing.T, opts ...servertest.Option) *cluster {
	t.Helper()
	ts := servertest.Start(t, opts...)
	return newCluster(t, ts)
}

func newCluster(t *testing.T, ts *servertest.TestServer) *cluster {
	t.Helper()
	cfg := rest.CopyConfig(ts.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{TestServer: ts, client: client, http: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 60 * time.Second}}
}

// anonymous returns an HTTP client that trusts the server but sends no
// credential.
func (c *cluster) anonymous(t *testing.T) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.Server.CACertPEM())
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
}

// response is a raw HTTP answer.
type response struct {
	code   int
	body   []byte
	header http.Header
}

func (r response) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("response is not a Status: %v: %s", err, r.body)
	}
	return st
}

// do sends a raw request with admin credentials.
func (c *cluster) do(t *testing.T, method, path, contentType string, body []byte) response {
	t.Helper()
	return doWith(t, c.http, c.Server.URL(), method, path, contentType, body, nil)
}

func doWith(t *testing.T, hc *http.Client, base, method, path, contentType string, body []byte, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, body: data, header: resp.Header}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, lastErr)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func createNamespace(t *testing.T, c *cluster, name string) {
	t.Helper()
	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)
	if r := c.do(t, http.MethodPost, "/api/v1/namespaces", "application/json", []byte(body)); r.code != http.StatusCreated {
		t.Fatalf("create namespace %s: %d %s", name, r.code, r.body)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
