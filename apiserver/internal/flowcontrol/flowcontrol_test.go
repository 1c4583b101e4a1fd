package flowcontrol

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	fcmetrics "k8s.io/apiserver/pkg/util/flowcontrol/metrics"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

func TestRequestInfo(t *testing.T) {
	tests := []struct {
		name   string
		attrs  authz.Attributes
		prefix string
		parts  []string
	}{
		{"core resource with subresource", authz.Attributes{ResourceRequest: true, Verb: "update", APIVersion: "v1",
			Namespace: "default", Resource: "pods", Name: "web", Subresource: "status", Path: "/api/v1/namespaces/default/pods/web/status"},
			"api", []string{"pods", "web", "status"}},
		{"group collection", authz.Attributes{ResourceRequest: true, Verb: "list", APIGroup: "apps", APIVersion: "v1",
			Resource: "deployments", Path: "/apis/apps/v1/deployments"}, "apis", []string{"deployments"}},
		{"non-resource path", authz.Attributes{Verb: "get", Path: "/healthz"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := requestInfo(tt.attrs)
			if info.IsResourceRequest != tt.attrs.ResourceRequest || info.Verb != tt.attrs.Verb || info.Path != tt.attrs.Path ||
				info.APIGroup != tt.attrs.APIGroup || info.Namespace != tt.attrs.Namespace || info.Resource != tt.attrs.Resource ||
				info.Subresource != tt.attrs.Subresource || info.Name != tt.attrs.Name {
				t.Errorf("request info %+v from %+v", info, tt.attrs)
			}
			if info.APIPrefix != tt.prefix || !reflect.DeepEqual(info.Parts, tt.parts) {
				t.Errorf("prefix %q parts %q, want %q %q", info.APIPrefix, info.Parts, tt.prefix, tt.parts)
			}
		})
	}
}

func TestNewRefusesBadLimits(t *testing.T) {
	for _, opts := range []Options{
		{MaxRequestsInFlight: -1},
		{MaxMutatingRequestsInFlight: -1},
		{EnablePriorityAndFairness: true},
		{EnablePriorityAndFairness: true, MaxRequestsInFlight: 1},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) accepted", opts)
		}
	}
}

// TestGathererTakesOnlyFlowControlMetrics: what joins the apiserver's
// registry must not repeat its Go and process metrics.
func TestGathererTakesOnlyFlowControlMetrics(t *testing.T) {
	fcmetrics.Register()
	fcmetrics.SetPriorityLevelConfiguration("gatherer-test", 3, 2, 4)
	mfs, err := Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), metricsPrefix) {
			t.Errorf("gathered %s", mf.GetName())
		}
		found = found || mf.GetName() == "apiserver_flowcontrol_nominal_limit_seats"
	}
	if !found {
		t.Errorf("apiserver_flowcontrol_nominal_limit_seats not gathered")
	}
}

// TestMaxInFlight: without priority and fairness, one read in flight
// makes the next one a 429 with Retry-After, unless it comes from
// system:masters; what was refused never reaches the handlers.
func TestMaxInFlight(t *testing.T) {
	f, err := New(Options{MaxRequestsInFlight: 1, MaxMutatingRequestsInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	users := map[string]*authn.User{
		"alice": {Name: "alice", Groups: []string{authn.AllAuthenticated}},
		"admin": {Name: "admin", Groups: []string{"system:masters", authn.AllAuthenticated}},
	}
	r.Use(f.Middleware(func(c *gin.Context) authz.Attributes {
		return authz.Attributes{User: users[c.GetHeader("X-User")], Verb: "list", ResourceRequest: true, APIVersion: "v1", Resource: "pods", Path: c.Request.URL.Path}
	}))
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex // guards reached
	reached := map[string]int{}
	r.GET("/api/v1/pods", func(c *gin.Context) {
		mu.Lock()
		reached[c.GetHeader("X-User")+c.Query("n")]++
		mu.Unlock()
		if c.Query("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		c.String(http.StatusOK, "ok")
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	get := func(user, query string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/pods?"+query, nil)
		req.Header.Set("X-User", user)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return nil
		}
		resp.Body.Close()
		return resp
	}
	held := make(chan *http.Response, 1)
	go func() { held <- get("alice", "hold=1&n=0") }()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first request never reached the handler")
	}

	resp := get("alice", "n=1")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second read: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := get("admin", "n=2"); resp.StatusCode != http.StatusOK {
		t.Errorf("system:masters read: %d, want 200", resp.StatusCode)
	}
	close(release)
	if resp := <-held; resp == nil || resp.StatusCode != http.StatusOK {
		t.Errorf("held read: %v", resp)
	}
	if resp := get("alice", "n=3"); resp.StatusCode != http.StatusOK {
		t.Errorf("read after the release: %d, want 200", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if reached["alice1"] != 0 || reached["admin2"] != 1 || reached["alice3"] != 1 {
		t.Errorf("handler reached by %v", reached)
	}
}
