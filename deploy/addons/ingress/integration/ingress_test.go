package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestIngress runs every behaviour against one apiserver and one
// controller (Caddy is one per process); each subtest has hosts and a
// namespace of its own.
func TestIngress(t *testing.T) {
	e := start(t)
	t.Run("hosts and paths", e.testHostsAndPaths)
	t.Run("wildcard host", e.testWildcardHost)
	t.Run("default backend and 404", e.testDefaultBackend)
	t.Run("missing service answers 503 with an event", e.testMissingService)
	t.Run("round robin over ready endpoints", e.testRoundRobin)
	t.Run("forwarded headers", e.testForwardedHeaders)
	t.Run("TLS, SNI, redirect and HTTP/2", e.testTLS)
	t.Run("invalid key pair is refused", e.testInvalidKeyPair)
	t.Run("WebSocket", e.testWebSocket)
	t.Run("change is live within 2s and a request in flight completes", e.testLiveChange)
	t.Run("other classes are not served", e.testOtherClass)
	t.Run("status.loadBalancer follows the publish service", e.testStatus)
}

func (e *env) testHostsAndPaths(t *testing.T) {
	ns := e.namespace("paths")
	a, b := newBackend(t, "a"), newBackend(t, "b")
	e.service(ns, "svc-a", a)
	e.service(ns, "svc-b", b)
	e.createIngress(ns, ingressOf("web",
		rule("a.paths.test", route{"/", prefix, "svc-a"}, route{"/api", prefix, "svc-b"}),
		rule("b.paths.test", route{"/", prefix, "svc-b"}, route{"/api", exact, "svc-a"}, route{"/api/v1/", prefix, "svc-a"}),
	))
	c := e.httpClient()
	expect(t, c, "http://a.paths.test/", "backend:a")
	cases := []struct{ url, want string }{
		{"http://a.paths.test/", "backend:a"},
		{"http://a.paths.test/index.html", "backend:a"},
		{"http://a.paths.test/api", "backend:b"},
		{"http://a.paths.test/api/", "backend:b"},
		{"http://a.paths.test/api/users", "backend:b"},
		// Prefix matches element-wise: /api does not cover /apis.
		{"http://a.paths.test/apis", "backend:a"},
		// Paths are case-sensitive.
		{"http://a.paths.test/API", "backend:a"},
		// Hosts are not.
		{"http://A.Paths.Test/api", "backend:b"},
		{"http://b.paths.test/", "backend:b"},
		{"http://b.paths.test/api", "backend:a"},
		// Exact /api does not cover /api/; Prefix / does.
		{"http://b.paths.test/api/", "backend:b"},
		// The longest match wins; a trailing slash of a Prefix path does
		// not count.
		{"http://b.paths.test/api/v1", "backend:a"},
		{"http://b.paths.test/api/v1/x", "backend:a"},
		{"http://b.paths.test/api/v2", "backend:b"},
		{"http://unknown.paths.test/", "404"},
	}
	for _, tc := range cases {
		a, err := get(c, tc.url, nil)
		if err != nil {
			t.Errorf("GET %s: %v", tc.url, err)
			continue
		}
		if !served(a, tc.want) {
			t.Errorf("GET %s: got %s, want %s", tc.url, a, tc.want)
		}
	}
	// The backend sees the request as the client sent it.
	got := expect(t, c, "http://a.paths.test/api/users", "backend:b")
	if got.reply.Path != "/api/users" || got.reply.Host != "a.paths.test" {
		t.Errorf("backend saw path %q host %q", got.reply.Path, got.reply.Host)
	}
	if a := expect(t, c, "http://unknown.paths.test/", "404"); a.body != "default backend - 404\n" {
		t.Errorf("404 body %q", a.body)
	}
}

func (e *env) testWildcardHost(t *testing.T) {
	ns := e.namespace("wildcard")
	a, b := newBackend(t, "a"), newBackend(t, "b")
	e.service(ns, "svc-a", a)
	e.service(ns, "svc-b", b)
	e.createIngress(ns, ingressOf("web",
		rule("*.wild.test", route{"/", prefix, "svc-a"}),
		rule("exact.wild.test", route{"/", prefix, "svc-b"}),
	))
	c := e.httpClient()
	expect(t, c, "http://x.wild.test/", "backend:a")
	expect(t, c, "http://exact.wild.test/", "backend:b")
	// A wildcard covers one label only.
	expect(t, c, "http://y.x.wild.test/", "404")
	expect(t, c, "http://wild.test/", "404")
}

func (e *env) testDefaultBackend(t *testing.T) {
	ns := e.namespace("fallback")
	d, h := newBackend(t, "default"), newBackend(t, "host")
	e.service(ns, "svc-default", d)
	e.service(ns, "svc-host", h)
	c := e.httpClient()
	expect(t, c, "http://nowhere.fallback.test/", "404")
	ing := ingressOf("catch-all", rule("host.fallback.test", route{"/only", exact, "svc-host"}))
	ing.Spec.DefaultBackend = ptr.To(serviceBackend("svc-default"))
	e.createIngress(ns, ing)
	expect(t, c, "http://host.fallback.test/only", "backend:host")
	// A path no rule of the host matches, and a host no rule names, go
	// to the default backend.
	expect(t, c, "http://host.fallback.test/other", "backend:default")
	expect(t, c, "http://nowhere.fallback.test/", "backend:default")
	// The other tests want their 404s back.
	if err := e.client.NetworkingV1().Ingresses(ns).Delete(context.Background(), "catch-all", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, "http://nowhere.fallback.test/", "404")
}

func (e *env) testMissingService(t *testing.T) {
	ns := e.namespace("missing")
	a := newBackend(t, "a")
	e.service(ns, "svc-a", a)
	e.createIngress(ns, ingressOf("web", rule("missing.test",
		route{"/ok", prefix, "svc-a"}, route{"/gone", prefix, "svc-gone"})))
	c := e.httpClient()
	expect(t, c, "http://missing.test/ok", "backend:a")
	if got := expect(t, c, "http://missing.test/gone", "503"); !strings.Contains(got.body, "Service Temporarily Unavailable") {
		t.Errorf("503 body %q", got.body)
	}
	msg := e.warning(t, ns, "web", "ServiceNotFound")
	if !strings.Contains(msg, `"missing/svc-gone"`) {
		t.Errorf("event message %q does not name the service", msg)
	}
	// Once the Service exists, its route serves.
	b := newBackend(t, "b")
	e.service(ns, "svc-gone", b)
	expect(t, c, "http://missing.test/gone", "backend:b")
	expect(t, c, "http://missing.test/ok", "backend:a")
}

func (e *env) testRoundRobin(t *testing.T) {
	ns := e.namespace("roundrobin")
	one, two := backendPair(t, "one", "two")
	e.service(ns, "pair", one, two)
	e.createIngress(ns, ingressOf("web", rule("rr.test", route{"/", prefix, "pair"})))
	c := e.httpClient()
	seen := map[string]int{}
	eventually(t, "both endpoints answering", func() error {
		a, err := get(c, "http://rr.test/", nil)
		if err != nil {
			return err
		}
		if a.code != http.StatusOK {
			return fmt.Errorf("got %s", a)
		}
		seen[a.reply.Backend]++
		if seen["one"] == 0 || seen["two"] == 0 {
			return fmt.Errorf("answered by %v", seen)
		}
		return nil
	})
}

func (e *env) testForwardedHeaders(t *testing.T) {
	ns := e.namespace("forwarded")
	a := newBackend(t, "a")
	e.service(ns, "svc-a", a)
	e.createIngress(ns, ingressOf("web", rule("fwd.test", route{"/", prefix, "svc-a"})))
	c := e.httpClient()
	expect(t, c, "http://fwd.test/", "backend:a")
	// A client cannot forge them: the proxy trusts nobody in front of it.
	got, err := get(c, "http://fwd.test/", http.Header{"X-Forwarded-For": {"203.0.113.66"}, "X-Forwarded-Proto": {"https"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.reply; r.ForwardedFor != "127.0.0.1" || r.ForwardedProto != "http" || r.ForwardedHost != "fwd.test" {
		t.Errorf("backend saw X-Forwarded-For %q, -Proto %q, -Host %q; want 127.0.0.1, http, fwd.test",
			r.ForwardedFor, r.ForwardedProto, r.ForwardedHost)
	}
}

func (e *env) testTLS(t *testing.T) {
	ns := e.namespace("tls")
	a, b := newBackend(t, "a"), newBackend(t, "b")
	e.service(ns, "svc-a", a)
	e.service(ns, "svc-b", b)
	crt, key := e.ca.issue("secure.tls.test")
	e.tlsSecret(ns, "secure-cert", crt, key)
	crt, key = e.ca.issue("*.wild.tls.test")
	e.tlsSecret(ns, "wild-cert", crt, key)
	ing := ingressOf("web",
		rule("secure.tls.test", route{"/", prefix, "svc-a"}),
		rule("*.wild.tls.test", route{"/", prefix, "svc-b"}),
		rule("plain.tls.test", route{"/", prefix, "svc-b"}),
	)
	ing.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"secure.tls.test"}, SecretName: "secure-cert"},
		{Hosts: []string{"*.wild.tls.test"}, SecretName: "wild-cert"},
	}
	e.createIngress(ns, ing)
	hc, sc := e.httpClient(), e.httpsClient()

	// The client verifies the certificate against the name it asked
	// for, so an answer means SNI picked the right one.
	got := expect(t, sc, "https://secure.tls.test/", "backend:a")
	if got.proto != "HTTP/2.0" || got.tls == nil || got.tls.NegotiatedProtocol != "h2" {
		t.Errorf("HTTPS answered over %s (ALPN %q), want HTTP/2", got.proto, got.tls.NegotiatedProtocol)
	}
	if got.reply.ForwardedProto != "https" {
		t.Errorf("backend saw X-Forwarded-Proto %q over HTTPS", got.reply.ForwardedProto)
	}
	expect(t, sc, "https://x.wild.tls.test/", "backend:b")
	for host, want := range map[string][]string{"secure.tls.test": {"secure.tls.test"}, "x.wild.tls.test": {"*.wild.tls.test"}} {
		names, err := e.handshake(host)
		if err != nil || !reflect.DeepEqual(names, want) {
			t.Errorf("handshake for %s: certificate for %v (%v), want %v", host, names, err, want)
		}
	}

	// Plain HTTP to a TLS host is redirected, keeping path and query.
	redirect := expect(t, hc, "http://secure.tls.test/a/b?c=d", "308")
	_, httpsPort, _ := net.SplitHostPort(e.httpsAddr)
	if loc, want := redirect.header.Get("Location"), "https://secure.tls.test:"+httpsPort+"/a/b?c=d"; loc != want {
		t.Errorf("redirect to %q, want %q", loc, want)
	}
	// A host without TLS is served over plain HTTP and refused over TLS:
	// no other certificate stands in for it.
	expect(t, hc, "http://plain.tls.test/", "backend:b")
	if names, err := e.handshake("plain.tls.test"); err == nil {
		t.Errorf("TLS handshake for a host without a certificate succeeded, certificate for %v", names)
	}
}

func (e *env) testInvalidKeyPair(t *testing.T) {
	ns := e.namespace("badtls")
	a := newBackend(t, "a")
	e.service(ns, "svc-a", a)
	good, goodKey := e.ca.issue("good.badtls.test")
	e.tlsSecret(ns, "good-cert", good, goodKey)
	bad, _ := e.ca.issue("bad.badtls.test")
	_, otherKey := e.ca.issue("other.badtls.test")
	e.tlsSecret(ns, "bad-cert", bad, otherKey)
	ing := ingressOf("web",
		rule("good.badtls.test", route{"/", prefix, "svc-a"}),
		rule("bad.badtls.test", route{"/", prefix, "svc-a"}),
	)
	ing.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"good.badtls.test"}, SecretName: "good-cert"},
		{Hosts: []string{"bad.badtls.test"}, SecretName: "bad-cert"},
	}
	e.createIngress(ns, ing)
	expect(t, e.httpsClient(), "https://good.badtls.test/", "backend:a")
	msg := e.warning(t, ns, "web", "InvalidTLSSecret")
	if !strings.Contains(msg, `"badtls/bad-cert"`) {
		t.Errorf("event message %q does not name the secret", msg)
	}
	// The handshake fails, rather than offering a certificate that does
	// not fit; a client that skips verification finds that out too.
	if names, err := e.handshake("bad.badtls.test"); err == nil {
		t.Errorf("TLS handshake for the host of an invalid secret succeeded, certificate for %v", names)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.httpsAddr,
		&tls.Config{ServerName: "bad.badtls.test", InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Error("TLS handshake without verification for the host of an invalid secret succeeded")
	}
	// Its plain HTTP route is not redirected to a broken HTTPS.
	expect(t, e.httpClient(), "http://bad.badtls.test/", "backend:a")
}

func (e *env) testWebSocket(t *testing.T) {
	ns := e.namespace("websocket")
	a := newBackend(t, "a")
	e.service(ns, "svc-a", a)
	e.createIngress(ns, ingressOf("web", rule("ws.test", route{"/", prefix, "svc-a"})))
	expect(t, e.httpClient(), "http://ws.test/", "backend:a")

	cfg, err := websocket.NewConfig("ws://ws.test/ws", "http://ws.test/")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.DialTimeout("tcp", e.httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.NewClient(cfg, tcp)
	if err != nil {
		tcp.Close()
		t.Fatalf("websocket handshake through the proxy: %v", err)
	}
	defer ws.Close()
	echo := func(msg string) {
		t.Helper()
		_ = ws.SetDeadline(time.Now().Add(10 * time.Second))
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatalf("send %q: %v", msg, err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatalf("receive echo of %q: %v", msg, err)
		}
		if got != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
	echo("hello")
	// A change of the configuration keeps the stream open.
	b := newBackend(t, "b")
	e.service(ns, "svc-b", b)
	e.createIngress(ns, ingressOf("more", rule("ws2.test", route{"/", prefix, "svc-b"})))
	expect(t, e.httpClient(), "http://ws2.test/", "backend:b")
	echo("still here after a reload")
}

func (e *env) testLiveChange(t *testing.T) {
	ns := e.namespace("live")
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "first half;")
		w.(http.Flusher).Flush()
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second half")
	})
	a := serveOn(t, "a", listen(t, backendIPs[0]+":0"), slow)
	b := newBackend(t, "b")
	e.service(ns, "svc-a", a)
	e.service(ns, "svc-b", b)
	e.createIngress(ns, ingressOf("web", rule("live.test", route{"/", prefix, "svc-a"})))
	c := e.httpClient()
	expect(t, c, "http://live.test/", "backend:a")

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.Get("http://live.test/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		done <- result{string(body), err}
	}()
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatal("the slow request did not reach the backend")
	}

	changed := time.Now()
	e.updateIngress(ns, "web", func(ing *networkingv1.Ingress) {
		ing.Spec.Rules[0].HTTP.Paths[0].Backend = serviceBackend("svc-b")
	})
	for {
		got, err := get(c, "http://live.test/", nil)
		if err == nil && served(got, "backend:b") {
			break
		}
		if time.Since(changed) > 2*time.Second {
			t.Fatalf("the change was not live within 2s (last: %v %v)", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("change live after %v", time.Since(changed).Round(time.Millisecond))

	close(release)
	select {
	case r := <-done:
		if r.err != nil || r.body != "first half;second half" {
			t.Fatalf("the request in flight during the change got %q, %v", r.body, r.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the request in flight did not complete")
	}
}

func (e *env) testOtherClass(t *testing.T) {
	ns := e.namespace("otherclass")
	a := newBackend(t, "a")
	e.service(ns, "svc-a", a)
	other := ingressOf("theirs", rule("theirs.test", route{"/", prefix, "svc-a"}))
	other.Spec.IngressClassName = ptr.To("other")
	e.createIngress(ns, other)
	legacy := ingressOf("legacy", rule("legacy.test", route{"/", prefix, "svc-a"}))
	legacy.Annotations = map[string]string{"kubernetes.io/ingress.class": "coracle"}
	e.createIngress(ns, legacy)
	c := e.httpClient()
	// Once the legacy Ingress (created after) is served, the other one
	// would have been too.
	expect(t, c, "http://legacy.test/", "backend:a")
	expect(t, c, "http://theirs.test/", "404")
}

func (e *env) testStatus(t *testing.T) {
	ns := e.namespace("status")
	a := newBackend(t, "a")
	e.service(ns, "svc-a", a)
	e.createIngress(ns, ingressOf("web", rule("status.test", route{"/", prefix, "svc-a"})))
	other := ingressOf("theirs", rule("theirs.status.test", route{"/", prefix, "svc-a"}))
	other.Spec.IngressClassName = ptr.To("other")
	e.createIngress(ns, other)

	addresses := func(name string) []string {
		ing, err := e.client.NetworkingV1().Ingresses(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, lb := range ing.Status.LoadBalancer.Ingress {
			out = append(out, lb.IP+lb.Hostname)
		}
		return out
	}
	wantAddresses := func(name string, want ...string) {
		t.Helper()
		eventually(t, fmt.Sprintf("ingress %s showing %v", name, want), func() error {
			if got := addresses(name); !reflect.DeepEqual(got, want) {
				return fmt.Errorf("shows %v", got)
			}
			return nil
		})
	}
	wantAddresses("web", publishedIP)
	// The publish Service's address changes: the Ingress follows.
	e.setPublishedIP(nil, "198.51.100.8")
	wantAddresses("web", "198.51.100.8")
	e.setPublishedIP(nil, publishedIP)
	wantAddresses("web", publishedIP)
	// Another controller's Ingress keeps what it has.
	if got := addresses("theirs"); len(got) != 0 {
		t.Errorf("another class's ingress shows %v", got)
	}
	// An Ingress moved to another class is cleared.
	e.updateIngress(ns, "web", func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = ptr.To("other") })
	wantAddresses("web")
}
