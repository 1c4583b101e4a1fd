package endpoints

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestProxyPath(t *testing.T) {
	tests := []struct {
		name      string
		rest      string
		namespace string
		want      string
	}{
		{"no path", "/namespaces/ns/pods/web/proxy", "ns", ""},
		{"root", "/namespaces/ns/pods/web/proxy/", "ns", ""},
		{"a path", "/namespaces/ns/services/web:http/proxy/a/b", "ns", "a/b"},
		{"a trailing slash is kept", "/namespaces/ns/pods/web/proxy/a/b/", "ns", "a/b/"},
		{"a cluster-scoped kind", "/nodes/n1/proxy/healthz", "", "healthz"},
		{"a node without path", "/nodes/n1:10250/proxy", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Params = gin.Params{{Key: "rest", Value: tt.rest}}
			r := &request{c: c, info: RequestInfo{Namespace: tt.namespace}}
			if got := r.proxyPath(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProxyable(t *testing.T) {
	tests := []struct {
		ip       string
		loopback bool
		want     bool
	}{
		{"10.244.1.5", false, true},
		{"2001:db8::1", false, true},
		{"127.0.0.1", false, false},
		{"::1", false, false},
		{"169.254.169.254", false, false},
		{"0.0.0.0", false, false},
		{"224.0.0.1", false, false},
		{"", false, false},
		{"127.0.0.1", true, true},
		{"169.254.1.1", true, true},
		{"0.0.0.0", true, false},
	}
	for _, tt := range tests {
		a := &API{opts: Options{ProxyLoopback: tt.loopback}}
		if got := a.proxyable(net.ParseIP(tt.ip)); got != tt.want {
			t.Errorf("proxyable(%q) with loopback %v = %v, want %v", tt.ip, tt.loopback, got, tt.want)
		}
	}
}

func TestOptionBool(t *testing.T) {
	q := url.Values{"a": {"true"}, "b": {"1"}, "c": {"false"}, "d": {"0"}, "e": {"FALSE"}, "f": {"yes"}, "g": {""}}
	want := map[string]bool{"a": true, "b": true, "c": false, "d": false, "e": false, "f": true, "g": true, "missing": false}
	for name, w := range want {
		if got := optionBool(q, name); got != w {
			t.Errorf("%s=%q: got %v, want %v", name, q.Get(name), got, w)
		}
	}
}

func TestPortsOption(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    []int32
		wantErr bool
	}{
		{"none", nil, nil, false},
		{"repeated", []string{"80", "443"}, []int32{80, 443}, false},
		{"comma-separated", []string{"80,8080", "9090"}, []int32{80, 8080, 9090}, false},
		{"not a number", []string{"http"}, nil, true},
		{"beyond 16 bits", []string{"70000"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := portsOption(tt.values)
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOutboundDropsCredentials(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/ns/pods/web/proxy/", nil)
	c.Request.Header.Set("Authorization", "Bearer secret")
	c.Request.Header.Set("Impersonate-User", "alice")
	c.Request.Header.Set("Impersonate-Extra-Scopes", "x")
	c.Request.Header.Set("Accept", "text/html")
	out := (&request{c: c}).outbound()
	if got := out.Header; got.Get("Authorization") != "" || got.Get("Impersonate-User") != "" || got.Get("Impersonate-Extra-Scopes") != "" || got.Get("Accept") != "text/html" {
		t.Errorf("outbound headers %v", got)
	}
	if c.Request.Header.Get("Authorization") == "" {
		t.Error("the client's own request was changed")
	}
}
