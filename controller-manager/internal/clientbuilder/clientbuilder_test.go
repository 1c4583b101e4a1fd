package clientbuilder

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestRenewAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		expires time.Time
		want    time.Time
	}{
		{"an hour's token is renewed after 48 minutes", now.Add(time.Hour), now.Add(48 * time.Minute)},
		{"a day's token is renewed after 80% of it", now.Add(24 * time.Hour), now.Add(24 * time.Hour * 80 / 100)},
		{"a token shorter than ten minutes counts as ten", now.Add(2 * time.Minute), now.Add(8 * time.Minute)},
		{"an expired token (clock skew) counts as ten minutes", now.Add(-time.Hour), now.Add(8 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RenewAt(now, tt.expires); !got.Equal(tt.want) {
				t.Errorf("RenewAt = %v, want %v", got, tt.want)
			}
		})
	}
}

// tokenAPI is a fake clientset whose TokenRequests answer token-1,
// token-2, … each valid for what was asked, and count them.
type tokenAPI struct {
	*fake.Clientset
	clock *clocktesting.FakeClock

	mu       sync.Mutex // guards requests and asked
	requests int
	asked    []int64 // spec.expirationSeconds of each request
}

func newTokenAPI(clk *clocktesting.FakeClock, objs ...runtime.Object) *tokenAPI {
	api := &tokenAPI{Clientset: fake.NewClientset(objs...), clock: clk}
	api.PrependReactor("create", "serviceaccounts", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		tr := a.(clienttesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		api.mu.Lock()
		defer api.mu.Unlock()
		api.requests++
		api.asked = append(api.asked, *tr.Spec.ExpirationSeconds)
		tr.Status = authenticationv1.TokenRequestStatus{
			Token:               fmt.Sprintf("token-%d", api.requests),
			ExpirationTimestamp: metav1.NewTime(clk.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)),
		}
		return true, tr, nil
	})
	return api
}

func (a *tokenAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

// apiserver answers every request 200 with an empty NamespaceList,
// except those with a refused token, which get 401; it records the
// Authorization header of each.
type apiserver struct {
	*httptest.Server
	mu      sync.Mutex // guards seen and refused
	seen    []string
	refused map[string]bool
}

func newAPIServer(t *testing.T) *apiserver {
	s := &apiserver{refused: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		auth := r.Header.Get("Authorization")
		s.seen = append(s.seen, auth)
		refused := s.refused[auth]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if refused {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`))
			return
		}
		_, _ = w.Write([]byte(`{"kind":"NamespaceList","apiVersion":"v1","items":[]}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiserver) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[len(s.seen)-1]
}

func (s *apiserver) refuse(auth string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[auth] = true
}

// rootConfig is the manager's configuration, with credentials the
// controllers' configurations must not carry.
func rootConfig(host string) *rest.Config {
	return &rest.Config{Host: host, BearerToken: "manager-token", Username: "u", Password: "p"}
}

func list(t *testing.T, cfg *rest.Config) error {
	t.Helper()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	return err
}

// A controller's requests carry its ServiceAccount's token, not the
// manager's credentials; the token is asked for once and reused, by
// every client of that ServiceAccount.
func TestServiceAccountsTokens(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	api := newTokenAPI(clk)
	srv := newAPIServer(t)
	b := NewServiceAccounts(context.Background(), rootConfig(srv.URL), api.CoreV1(), Options{Clock: clk})

	cfg, err := b.Config(context.Background(), "deployment-controller")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BearerToken != "" || cfg.Username != "" || cfg.Password != "" {
		t.Errorf("config keeps the manager's credentials: %+v", cfg)
	}
	if _, err := api.CoreV1().ServiceAccounts("kube-system").Get(context.Background(), "deployment-controller", metav1.GetOptions{}); err != nil {
		t.Errorf("service account not created: %v", err)
	}
	if api.count() != 0 {
		t.Errorf("%d tokens asked before any request", api.count())
	}
	for range 3 {
		if err := list(t, cfg); err != nil {
			t.Fatal(err)
		}
		if got := srv.last(); got != "Bearer token-1" {
			t.Fatalf("request sent with %q, want Bearer token-1", got)
		}
	}
	again, err := b.Config(context.Background(), "deployment-controller")
	if err != nil {
		t.Fatal(err)
	}
	if err := list(t, again); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(); got != "Bearer token-1" || api.count() != 1 {
		t.Errorf("second client sent %q after %d token requests, want token-1 after 1", got, api.count())
	}
	if want := int64(3600); len(api.asked) != 1 || api.asked[0] != want {
		t.Errorf("expirationSeconds asked %v, want [%d]", api.asked, want)
	}

	other, err := b.Config(context.Background(), "job-controller")
	if err != nil {
		t.Fatal(err)
	}
	if err := list(t, other); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(); got != "Bearer token-2" {
		t.Errorf("another service account's client sent %q, want its own token-2", got)
	}
}

// A token refused with 401 is replaced by a new one for the next
// request.
func TestServiceAccountsRenewOnUnauthorized(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	api := newTokenAPI(clk)
	srv := newAPIServer(t)
	b := NewServiceAccounts(context.Background(), rootConfig(srv.URL), api.CoreV1(), Options{Clock: clk})
	cfg, err := b.Config(context.Background(), "job-controller")
	if err != nil {
		t.Fatal(err)
	}
	if err := list(t, cfg); err != nil {
		t.Fatal(err)
	}
	srv.refuse("Bearer token-1")
	if err := list(t, cfg); err == nil {
		t.Fatal("request with a refused token succeeded")
	}
	if err := list(t, cfg); err != nil {
		t.Fatalf("request after the refusal: %v", err)
	}
	if got := srv.last(); got != "Bearer token-2" {
		t.Errorf("request after the refusal sent %q, want Bearer token-2", got)
	}
}

// A token is renewed once its renewal time has passed. The caching in
// front of the token source reads the real clock: a token issued two
// hours ago by the fake clock is due at once.
func TestServiceAccountsRenewWhenDue(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now().Add(-2 * time.Hour))
	api := newTokenAPI(clk)
	srv := newAPIServer(t)
	b := NewServiceAccounts(context.Background(), rootConfig(srv.URL), api.CoreV1(), Options{Clock: clk})
	cfg, err := b.Config(context.Background(), "job-controller")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if err := list(t, cfg); err != nil {
			t.Fatal(err)
		}
		if got, want := srv.last(), fmt.Sprintf("Bearer token-%d", i); got != want {
			t.Errorf("request %d sent %q, want %q", i, got, want)
		}
	}
}

// An existing ServiceAccount is used as it is.
func TestServiceAccountsExisting(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "node-controller", Labels: map[string]string{"keep": "me"}}}
	api := newTokenAPI(clocktesting.NewFakeClock(time.Now()), sa)
	b := NewServiceAccounts(context.Background(), rootConfig("http://127.0.0.1:1"), api.CoreV1(), Options{})
	if _, err := b.Config(context.Background(), "node-controller"); err != nil {
		t.Fatal(err)
	}
	for _, a := range api.Actions() {
		if a.GetVerb() == "create" {
			t.Errorf("unexpected %s of %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestUsername(t *testing.T) {
	if got := Username("kube-system", "deployment-controller"); got != "system:serviceaccount:kube-system:deployment-controller" {
		t.Errorf("Username = %q", got)
	}
}
