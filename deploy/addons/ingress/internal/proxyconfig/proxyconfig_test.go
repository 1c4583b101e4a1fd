package proxyconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"coracle.dev/addons/ingress/internal/routing"
)

func TestPathPattern(t *testing.T) {
	cases := []struct {
		path    string
		match   routing.Match
		request string
		want    bool
	}{
		{"/foo", routing.Prefix, "/foo", true},
		{"/foo", routing.Prefix, "/foo/", true},
		{"/foo", routing.Prefix, "/foo/bar", true},
		{"/foo", routing.Prefix, "/foobar", false},
		{"/foo", routing.Prefix, "/Foo", false},
		{"/foo", routing.Prefix, "/", false},
		{"/foo/", routing.Prefix, "/foo", true},
		{"/foo/", routing.Prefix, "/foo/bar", true},
		{"/foo/bar", routing.Prefix, "/foo/barbaz", false},
		{"/a.b", routing.Prefix, "/axb", false},
		{"/foo", routing.Prefix, "/foo/a\nb", true},
		{"/foo", routing.Exact, "/foo", true},
		{"/foo", routing.Exact, "/foo/", false},
		{"/foo", routing.Exact, "/FOO", false},
		{"/foo/", routing.Exact, "/foo/", true},
		{"/foo/", routing.Exact, "/foo", false},
		{"/a+b", routing.Exact, "/a+b", true},
		{"/a+b", routing.Exact, "/aab", false},
	}
	for _, tc := range cases {
		re := PathPattern(tc.path, tc.match)
		if got := regexp.MustCompile(re).MatchString(tc.request); got != tc.want {
			t.Errorf("%s %s against %q (pattern %q): %v, want %v", tc.match, tc.path, tc.request, re, got, tc.want)
		}
	}
	if re := PathPattern("/", routing.Prefix); re != "" {
		t.Errorf("Prefix / has pattern %q, want none (it matches every path)", re)
	}
}

// keyPair is a self-signed certificate and its key, PEM.
func keyPair(t *testing.T, host string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
}

func table(t *testing.T) *routing.Table {
	crt, key := keyPair(t, "secure.example.com")
	up := routing.Backend{Service: "default/web:80", Upstreams: []string{"10.0.0.1:8080", "10.0.0.2:8080"}}
	return &routing.Table{
		Hosts: []routing.Host{
			{Name: "secure.example.com", TLS: true, Paths: []routing.Path{{Path: "/", Match: routing.Prefix, Backend: up}}},
			{Name: "plain.example.com", Paths: []routing.Path{
				{Path: "/api", Match: routing.Exact, Backend: routing.Backend{Service: "default/gone:80"}},
				{Path: "/", Match: routing.Prefix, Backend: up},
			}, Fallback: &up},
		},
		Certificates: []routing.Certificate{{Tag: "default/secure", CertPEM: crt, KeyPEM: key, Hosts: []string{"secure.example.com"}}},
	}
}

// decode turns a configuration into plain JSON values to look into.
func decode(t *testing.T, cfg []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at follows keys (strings) and indexes (ints) into v.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %v is not an object", path, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: %v has no element %d", path, v, k)
			}
			v = l[k]
		}
	}
	return v
}

func options(t *testing.T) Options {
	return Options{HTTPAddress: ":80", HTTPSAddress: ":443", StorageDir: t.TempDir(), DrainTimeout: time.Minute}
}

func TestBuild(t *testing.T) {
	o := options(t)
	cfg, err := Build(table(t), o)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, cfg)
	cases := []struct {
		name string
		path []any
		want any
	}{
		{"admin API off", []any{"admin", "disabled"}, true},
		{"config not persisted", []any{"admin", "config", "persist"}, false},
		{"storage in our directory", []any{"storage", "root"}, o.StorageDir},
		{"grace period is the drain timeout", []any{"apps", "http", "grace_period"}, float64(time.Minute)},
		{"no automatic HTTPS on http", []any{"apps", "http", "servers", "http", "automatic_https", "disable"}, true},
		{"no automatic HTTPS on https", []any{"apps", "http", "servers", "https", "automatic_https", "disable"}, true},
		{"https listens", []any{"apps", "http", "servers", "https", "listen"}, []any{":443"}},
		{"no HTTP/3", []any{"apps", "http", "servers", "https", "protocols"}, []any{"h1", "h2"}},
		{"TLS hosts redirect first", []any{"apps", "http", "servers", "http", "routes", 0, "match", 0, "host"}, []any{"secure.example.com"}},
		{"with 308", []any{"apps", "http", "servers", "http", "routes", 0, "handle", 0, "status_code"}, float64(308)},
		{"to https on the default port", []any{"apps", "http", "servers", "http", "routes", 0, "handle", 0, "headers", "Location"},
			[]any{"https://{http.request.host}{http.request.uri}"}},
		{"https has no redirect", []any{"apps", "http", "servers", "https", "routes", 0, "match", 0, "host"}, []any{"secure.example.com"}},
		{"the certificate's hosts get it", []any{"apps", "http", "servers", "https", "tls_connection_policies", 0, "match", "sni"}, []any{"secure.example.com"}},
		{"by the secret's tag", []any{"apps", "http", "servers", "https", "tls_connection_policies", 0, "certificate_selection", "any_tag"}, []any{"default/secure"}},
		{"every other handshake is dropped", []any{"apps", "http", "servers", "https", "tls_connection_policies", 1, "drop"}, true},
		{"the certificate is loaded with its tag", []any{"apps", "tls", "certificates", "load_pem", 0, "tags"}, []any{"default/secure"}},
		{"no OCSP", []any{"apps", "tls", "disable_ocsp_stapling"}, true},
		{"no storage cleaning", []any{"apps", "tls", "disable_storage_clean"}, true},
		{"round robin", []any{"apps", "http", "servers", "https", "routes", 0, "handle", 0, "routes", 0, "handle", 0, "load_balancing", "selection_policy", "policy"}, "round_robin"},
		{"to the upstreams", []any{"apps", "http", "servers", "https", "routes", 0, "handle", 0, "routes", 0, "handle", 0, "upstreams"},
			[]any{map[string]any{"dial": "10.0.0.1:8080"}, map[string]any{"dial": "10.0.0.2:8080"}}},
		{"streams outlive a reload", []any{"apps", "http", "servers", "https", "routes", 0, "handle", 0, "routes", 0, "handle", 0, "stream_close_delay"}, float64(time.Minute)},
		{"a backend without upstreams answers 503", []any{"apps", "http", "servers", "https", "routes", 1, "handle", 0, "routes", 0, "handle", 0, "status_code"}, float64(503)},
		{"exact path", []any{"apps", "http", "servers", "https", "routes", 1, "handle", 0, "routes", 0, "match", 0, "path_regexp", "pattern"}, `^/api$`},
		{"prefix / has no matcher", []any{"apps", "http", "servers", "https", "routes", 1, "handle", 0, "routes", 1, "match"}, nil},
		{"host fallback", []any{"apps", "http", "servers", "https", "routes", 1, "handle", 0, "routes", 2, "handle", 0, "handler"}, "reverse_proxy"},
		{"rules without host last, 404", []any{"apps", "http", "servers", "https", "routes", 2, "handle", 0, "routes", 0, "handle", 0, "status_code"}, float64(404)},
		{"Caddy's default log without a core", []any{"logging"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := at(t, m, tc.path...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%v = %#v, want %#v", tc.path, got, tc.want)
			}
		})
	}
}

func TestBuildOptions(t *testing.T) {
	o := options(t)
	o.HTTPAddress, o.HTTPSAddress = "127.0.0.1:8080", "127.0.0.1:8443"
	o.LogCore, o.ConnTracker, o.AccessLog = "some_core", "some_tracker", true
	cfg, err := Build(table(t), o)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, cfg)
	cases := []struct {
		name string
		path []any
		want any
	}{
		{"redirect names a port other than 443", []any{"apps", "http", "servers", "http", "routes", 0, "handle", 0, "headers", "Location"},
			[]any{"https://{http.request.host}:8443{http.request.uri}"}},
		{"log core", []any{"logging", "logs", "default", "core", "module"}, "some_core"},
		{"Caddy's own writer discards", []any{"logging", "logs", "default", "writer", "output"}, "discard"},
		{"tracker on http", []any{"apps", "http", "servers", "http", "listener_wrappers"}, []any{map[string]any{"wrapper": "some_tracker"}}},
		{"tracker below TLS", []any{"apps", "http", "servers", "https", "listener_wrappers"},
			[]any{map[string]any{"wrapper": "some_tracker"}, map[string]any{"wrapper": "tls"}}},
		{"access log", []any{"apps", "http", "servers", "https", "logs"}, map[string]any{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := at(t, m, tc.path...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%v = %#v, want %#v", tc.path, got, tc.want)
			}
		})
	}
}

func TestNoCertificatesStillTLS(t *testing.T) {
	cfg, err := Build(&routing.Table{}, options(t))
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, cfg)
	// With no certificate the HTTPS port refuses every handshake rather
	// than speaking plain HTTP.
	if got := at(t, m, "apps", "http", "servers", "https", "tls_connection_policies"); !reflect.DeepEqual(got, []any{map[string]any{"drop": true}}) {
		t.Errorf("policies %#v, want only the drop policy", got)
	}
	if got := at(t, m, "apps", "http", "servers", "http", "routes", 0, "handle", 0, "routes", 0, "handle", 0, "status_code"); got != float64(404) {
		t.Errorf("empty table answers %v, want 404", got)
	}
}

func TestBuildRejectsBadAddresses(t *testing.T) {
	o := options(t)
	o.HTTPSAddress = "443"
	if _, err := Build(&routing.Table{}, o); err == nil {
		t.Error("an address without a colon was accepted")
	}
}

// TestCaddyAcceptsTheConfiguration provisions the configuration in Caddy
// (without starting servers): every module and field must be known.
func TestCaddyAcceptsTheConfiguration(t *testing.T) {
	o := options(t)
	// Validation binds nothing, so any ports do.
	o.HTTPAddress, o.HTTPSAddress = "127.0.0.1:8080", "127.0.0.1:8443"
	raw, err := Build(table(t), o)
	if err != nil {
		t.Fatal(err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatalf("caddy refuses the configuration: %v", err)
	}
}
