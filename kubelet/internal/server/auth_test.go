package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"coracle.dev/shared/pki"
)

func TestRequestAttributes(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		verb         string
		subs         []string
	}{
		{"GET", "/containerLogs/default/web/c", "get", []string{"proxy"}},
		{"GET", "/exec/default/web/c", "get", []string{"proxy"}},
		{"POST", "/exec/default/web/c", "create", []string{"proxy"}},
		{"POST", "/run/default/web/c", "create", []string{"proxy"}},
		{"GET", "/attach/default/web/c", "get", []string{"proxy"}},
		{"POST", "/portForward/default/web", "create", []string{"proxy"}},
		{"GET", "/pods", "get", []string{"pods", "proxy"}},
		{"GET", "/pods/", "get", []string{"pods", "proxy"}},
		{"GET", "/runningpods/", "get", []string{"pods", "proxy"}},
		{"GET", "/podsfoo", "get", []string{"proxy"}},
		{"GET", "/healthz", "get", []string{"healthz", "proxy"}},
		{"GET", "/healthz/ping", "get", []string{"healthz", "proxy"}},
		{"GET", "/configz", "get", []string{"configz", "proxy"}},
		{"GET", "/stats/summary", "get", []string{"stats"}},
		{"GET", "/stats", "get", []string{"stats"}},
		{"GET", "/statsfoo", "get", []string{"proxy"}},
		{"GET", "/metrics", "get", []string{"metrics"}},
		{"GET", "/metrics/cadvisor", "get", []string{"metrics"}},
		{"GET", "/metrics/resource", "get", []string{"metrics"}},
		{"GET", "/logs/", "get", []string{"log"}},
		{"GET", "/logs/syslog", "get", []string{"log"}},
		{"POST", "/checkpoint/default/web/c", "create", []string{"checkpoint"}},
		{"GET", "/statusz", "get", []string{"statusz"}},
		{"GET", "/flagz", "get", []string{"configz"}},
		{"GET", "/spec/", "get", []string{"proxy"}},
		{"PUT", "/x", "update", []string{"proxy"}},
		{"PATCH", "/x", "patch", []string{"proxy"}},
		{"DELETE", "/x", "delete", []string{"proxy"}},
		{"HEAD", "/x", "", []string{"proxy"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			u := User{Name: "alice", Groups: []string{"dev"}}
			attrs := RequestAttributes("node-1", u, httptest.NewRequest(tc.method, tc.path, nil))
			var subs []string
			for _, a := range attrs {
				if a.Verb != tc.verb || a.Resource != "nodes" || a.Name != "node-1" || a.Path != tc.path || a.User.Name != "alice" {
					t.Errorf("attributes %+v", a)
				}
				subs = append(subs, a.Subresource)
			}
			if !reflect.DeepEqual(subs, tc.subs) {
				t.Errorf("subresources %v, want %v", subs, tc.subs)
			}
		})
	}
}

// certs are a client CA, a certificate it signed, and one of another CA.
type certs struct {
	pool        *x509.CertPool
	good, other []*x509.Certificate
	serverOnly  []*x509.Certificate
	commonName  string
}

func newCerts(t *testing.T) certs {
	t.Helper()
	ca, err := pki.NewCA("client-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *pki.KeyPair, usage pki.Usage) []*x509.Certificate {
		kp, err := ca.Issue(pki.Request{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"kubelet-api"}, Usage: usage})
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{kp.Cert}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return certs{
		pool: pool, good: issue(ca, pki.ClientUsage), other: issue(other, pki.ClientUsage), serverOnly: issue(ca, pki.ServerUsage),
		commonName: "kube-apiserver-kubelet-client",
	}
}

// tokenReviews answers TokenReviews from a table of tokens and counts
// them; fail makes them fail.
func tokenReviews(users map[string]authenticationv1.UserInfo, calls *atomic.Int32, fail *atomic.Bool) *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if fail != nil && fail.Load() {
			return true, nil, errors.New("apiserver down")
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		if u, ok := users[tr.Spec.Token]; ok {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
		} else {
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid token"}
		}
		return true, tr, nil
	})
	return c
}

func request(chain []*x509.Certificate, token string) *http.Request {
	r := httptest.NewRequest("GET", "/pods", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: chain}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func TestAuthenticate(t *testing.T) {
	cs := newCerts(t)
	var calls atomic.Int32
	users := map[string]authenticationv1.UserInfo{
		"sa-token": {Username: "system:serviceaccount:monitoring:scraper", UID: "u-1", Groups: []string{"system:serviceaccounts", "system:authenticated"}, Extra: map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"scraper-0"}}},
	}
	reviews := tokenReviews(users, &calls, nil).AuthenticationV1().TokenReviews()
	for _, tc := range []struct {
		name      string
		opts      AuthenticatorOptions
		req       *http.Request
		wantUser  *User
		wantError bool
	}{
		{
			name: "a client certificate of the client CA is its common name and organizations",
			opts: AuthenticatorOptions{ClientCAs: cs.pool}, req: request(cs.good, ""),
			wantUser: &User{Name: cs.commonName, Groups: []string{"kubelet-api", AllAuthenticated}},
		},
		{
			name: "a certificate of another CA is refused",
			opts: AuthenticatorOptions{ClientCAs: cs.pool, Anonymous: true}, req: request(cs.other, ""),
			wantError: true,
		},
		{
			name: "a certificate not for client authentication is refused",
			opts: AuthenticatorOptions{ClientCAs: cs.pool}, req: request(cs.serverOnly, ""),
			wantError: true,
		},
		{
			name: "a reviewed token is the user the apiserver says",
			opts: AuthenticatorOptions{ClientCAs: cs.pool, TokenReviews: reviews}, req: request(nil, "sa-token"),
			wantUser: &User{Name: "system:serviceaccount:monitoring:scraper", UID: "u-1", Groups: []string{"system:serviceaccounts", "system:authenticated"}, Extra: map[string][]string{"authentication.kubernetes.io/pod-name": {"scraper-0"}}},
		},
		{
			name: "a certificate of another CA with a good token is the token's user",
			opts: AuthenticatorOptions{ClientCAs: cs.pool, TokenReviews: reviews}, req: request(cs.other, "sa-token"),
			wantUser: &User{Name: "system:serviceaccount:monitoring:scraper", UID: "u-1", Groups: []string{"system:serviceaccounts", "system:authenticated"}, Extra: map[string][]string{"authentication.kubernetes.io/pod-name": {"scraper-0"}}},
		},
		{
			name: "a bad token is refused even when anonymous requests are allowed",
			opts: AuthenticatorOptions{ClientCAs: cs.pool, TokenReviews: reviews, Anonymous: true}, req: request(nil, "forged"),
			wantError: true,
		},
		{
			name: "without token webhook a token is no credential",
			opts: AuthenticatorOptions{ClientCAs: cs.pool}, req: request(nil, "sa-token"),
		},
		{
			name: "no credential is no user",
			opts: AuthenticatorOptions{ClientCAs: cs.pool, TokenReviews: reviews}, req: request(nil, ""),
		},
		{
			name: "no credential is system:anonymous when allowed",
			opts: AuthenticatorOptions{ClientCAs: cs.pool, TokenReviews: reviews, Anonymous: true}, req: request(nil, ""),
			wantUser: &User{Name: Anonymous, Groups: []string{AllUnauthenticated}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, ok, err := NewAuthenticator(tc.opts).Authenticate(tc.req)
			if (err != nil) != tc.wantError {
				t.Fatalf("error %v, want one: %v", err, tc.wantError)
			}
			if ok != (tc.wantUser != nil) || !reflect.DeepEqual(u, tc.wantUser) {
				t.Errorf("user %+v (ok %v), want %+v", u, ok, tc.wantUser)
			}
		})
	}
}

func TestTokenReviewCache(t *testing.T) {
	var calls atomic.Int32
	var fail atomic.Bool
	client := tokenReviews(map[string]authenticationv1.UserInfo{"good": {Username: "bob"}}, &calls, &fail)
	a := NewAuthenticator(AuthenticatorOptions{TokenReviews: client.AuthenticationV1().TokenReviews()})
	clk := testingclock.NewFakeClock(time.Now())
	a.cache = cache.NewLRUExpireCacheWithClock(tokenCacheSize, clk)
	auth := func(token string) (bool, error) {
		_, ok, err := a.Authenticate(request(nil, token))
		return ok, err
	}
	for range 3 {
		if ok, err := auth("good"); !ok || err != nil {
			t.Fatalf("good token: %v %v", ok, err)
		}
		if ok, _ := auth("bad"); ok {
			t.Fatal("bad token authenticated")
		}
	}
	if calls.Load() != 2 {
		t.Errorf("%d reviews for two tokens asked three times each, want 2", calls.Load())
	}
	// After the TTL the apiserver is asked again; its failures are not
	// remembered.
	clk.Step(DefaultTokenCacheTTL + time.Second)
	fail.Store(true)
	if _, err := auth("good"); err == nil {
		t.Error("a failed review authenticated")
	}
	fail.Store(false)
	if ok, err := auth("good"); !ok || err != nil {
		t.Errorf("after a failed review: %v %v", ok, err)
	}
	if calls.Load() != 4 {
		t.Errorf("%d reviews, want 4", calls.Load())
	}
}

// accessReviews allows the (user, subresource) pairs it is given, and
// counts the reviews.
func accessReviews(allowed map[string]bool, calls *atomic.Int32, fail *atomic.Bool) *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if fail != nil && fail.Load() {
			return true, nil, errors.New("apiserver down")
		}
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		ra := sar.Spec.ResourceAttributes
		if ra == nil || ra.Resource != "nodes" || ra.Group != "" || ra.Version != "v1" || ra.Name != "node-1" {
			return true, nil, errors.New("unexpected review")
		}
		sar.Status.Allowed = allowed[sar.Spec.User+" "+ra.Verb+" "+ra.Subresource]
		if !sar.Status.Allowed {
			sar.Status.Reason = "no RBAC policy matched"
		}
		return true, sar, nil
	})
	return c
}

func TestWebhookAuthorizer(t *testing.T) {
	var calls atomic.Int32
	var fail atomic.Bool
	allowed := map[string]bool{"kube-apiserver-kubelet-client get proxy": true, "scraper get stats": true}
	w := NewWebhookAuthorizer(accessReviews(allowed, &calls, &fail).AuthorizationV1().SubjectAccessReviews(), 0, 0)
	clk := testingclock.NewFakeClock(time.Now())
	w.cache = cache.NewLRUExpireCacheWithClock(decisionCacheSize, clk)
	ask := func(user, verb, sub string) bool {
		t.Helper()
		ok, _, err := w.Authorize(context.Background(), Attributes{User: User{Name: user}, Verb: verb, Resource: "nodes", Subresource: sub, Name: "node-1"})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !ask("kube-apiserver-kubelet-client", "get", "proxy") || !ask("scraper", "get", "stats") {
		t.Error("an allowed request was denied")
	}
	if ask("scraper", "get", "proxy") || ask("scraper", "create", "stats") {
		t.Error("a denied request was allowed")
	}
	if calls.Load() != 4 {
		t.Fatalf("%d reviews, want 4", calls.Load())
	}
	// Allowed answers are kept 5 minutes, denials 30 seconds.
	clk.Step(DefaultDenyCacheTTL + time.Second)
	ask("kube-apiserver-kubelet-client", "get", "proxy")
	ask("scraper", "get", "proxy")
	if calls.Load() != 5 {
		t.Errorf("after 31s: %d reviews, want only the denial asked again (5)", calls.Load())
	}
	clk.Step(DefaultAllowCacheTTL)
	ask("kube-apiserver-kubelet-client", "get", "proxy")
	if calls.Load() != 6 {
		t.Errorf("after 5m: %d reviews, want 6", calls.Load())
	}
	fail.Store(true)
	if _, _, err := w.Authorize(context.Background(), Attributes{User: User{Name: "new"}, Verb: "get", Resource: "nodes", Subresource: "log", Name: "node-1"}); err == nil {
		t.Error("a failed review decided")
	}
}

func TestAuthorizedHandler(t *testing.T) {
	cs := newCerts(t)
	var tokenCalls, sarCalls atomic.Int32
	var sarFail atomic.Bool
	users := map[string]authenticationv1.UserInfo{"viewer": {Username: "viewer"}, "prober": {Username: "prober"}}
	s := &Server{log: zap.NewNop(), opts: Options{
		NodeName: "node-1",
		Authenticator: NewAuthenticator(AuthenticatorOptions{
			ClientCAs: cs.pool, TokenReviews: tokenReviews(users, &tokenCalls, nil).AuthenticationV1().TokenReviews(),
		}),
		Authorizer: NewWebhookAuthorizer(accessReviews(map[string]bool{
			"kube-apiserver-kubelet-client get proxy": true, "prober get pods": true,
		}, &sarCalls, &sarFail).AuthorizationV1().SubjectAccessReviews(), 0, 0),
	}}
	h := s.authorized(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	serve := func(r *http.Request) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code, rec.Body.String()
	}
	withPath := func(r *http.Request, path string) *http.Request {
		r.URL.Path = path
		return r
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		code int
		body string
	}{
		{"the apiserver's certificate may proxy", withPath(request(cs.good, ""), "/containerLogs/default/web/c"), 200, "ok"},
		{"no credential", request(nil, ""), 401, "Unauthorized"},
		{"a bad token", request(nil, "forged"), 401, "Unauthorized"},
		{"a certificate of another CA", request(cs.other, ""), 401, "Unauthorized"},
		{"a token without the right", withPath(request(nil, "viewer"), "/exec/default/web/c"), 403,
			"Forbidden (user=viewer, verb=get, resource=nodes, subresource(s)=[proxy])\n"},
		{"/pods is allowed by nodes/pods", request(nil, "prober"), 200, "ok"},
		{"/pods needs nodes/pods or nodes/proxy", request(nil, "viewer"), 403,
			"Forbidden (user=viewer, verb=get, resource=nodes, subresource(s)=[pods proxy])\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := serve(tc.req)
			if code != tc.code || body != tc.body {
				t.Errorf("%d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
	sarFail.Store(true)
	if code, body := serve(withPath(request(nil, "viewer"), "/stats/summary")); code != 500 || body != "Authorization error (user=viewer, verb=get, resource=nodes, subresource=stats)" {
		t.Errorf("review failing: %d %q", code, body)
	}
}
