// Package token gets and keeps the ServiceAccount tokens of the node's
// pods, as Kubernetes' kubelet token manager does: a token is asked for
// with the TokenRequest API (serviceaccounts/<name>/token, bound to the
// pod) and handed out again from a cache until it is due for renewal —
// when 80% of its life has passed, or it is older than a day. A renewal
// that fails leaves the cached token in use while it is still valid.
//
// The volumes that project tokens into pods ask for them on every
// refresh; the cache is what makes that cheap.
package token

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

const (
	// MaxTTL is the oldest a token gets before it is renewed, however
	// long it was issued for.
	MaxTTL = 24 * time.Hour
	// MaxJitter spreads the renewals of tokens issued together.
	MaxJitter = 10 * time.Second
	// gcPeriod is how often expired tokens are dropped from the cache.
	gcPeriod = time.Minute
)

// RequestFunc asks the apiserver for a token of a ServiceAccount.
type RequestFunc func(ctx context.Context, namespace, serviceAccount string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)

// Manager caches tokens per ServiceAccount, audiences, expiration and
// bound object (the pod). It is safe for concurrent use.
type Manager struct {
	request RequestFunc
	clock   clock.PassiveClock
	jitter  func() time.Duration

	mu     sync.Mutex // guards cache and lastGC
	cache  map[string]*authenticationv1.TokenRequest
	lastGC time.Time
}

// NewManager returns a manager that requests tokens with client (the
// node's credential: the Node authorizer lets it ask only for the tokens
// of pods bound to the node).
func NewManager(client kubernetes.Interface) *Manager {
	return NewManagerWith(func(ctx context.Context, ns, sa string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
		return client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	}, clock.RealClock{})
}

// NewManagerWith returns a manager with its own way to request tokens
// and its own clock (for tests).
func NewManagerWith(request RequestFunc, clk clock.PassiveClock) *Manager {
	return &Manager{
		request: request,
		clock:   clk,
		jitter:  func() time.Duration { return time.Duration(rand.Int64N(int64(MaxJitter/time.Second))) * time.Second },
		cache:   map[string]*authenticationv1.TokenRequest{},
	}
}

// Token returns a valid token for the request: the cached one unless it
// is due for renewal, else a new one. When the renewal fails, the cached
// token is returned as long as it has not expired.
func (m *Manager) Token(ctx context.Context, namespace, serviceAccount string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	key := cacheKey(namespace, serviceAccount, tr)
	now := m.clock.Now()
	m.mu.Lock()
	m.gc(now)
	cached, ok := m.cache[key]
	m.mu.Unlock()
	if ok && !NeedsRefresh(now, cached, m.jitter()) {
		return cached, nil
	}
	fresh, err := m.request(ctx, namespace, serviceAccount, tr)
	if err != nil {
		switch {
		case !ok:
			return nil, fmt.Errorf("failed to fetch token: %w", err)
		case Expired(now, cached):
			return nil, fmt.Errorf("token %s expired and refresh failed: %w", key, err)
		}
		// Still valid: use it, and try again at the next refresh.
		return cached, nil
	}
	m.mu.Lock()
	m.cache[key] = fresh
	m.mu.Unlock()
	return fresh, nil
}

// Forget drops the tokens bound to a pod, once it is gone from the node.
func (m *Manager) Forget(podUID types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, tr := range m.cache {
		if ref := tr.Spec.BoundObjectRef; ref != nil && ref.UID == podUID {
			delete(m.cache, k)
		}
	}
}

// cached is the number of cached tokens.
func (m *Manager) cached() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cache)
}

// gc drops expired tokens, at most once per gcPeriod: those of pods the
// node no longer runs and that Forget missed. Called with mu held.
func (m *Manager) gc(now time.Time) {
	if now.Sub(m.lastGC) < gcPeriod {
		return
	}
	m.lastGC = now
	for k, tr := range m.cache {
		if Expired(now, tr) {
			delete(m.cache, k)
		}
	}
}

// Expired reports whether the token's expiration time has passed.
func Expired(now time.Time, tr *authenticationv1.TokenRequest) bool {
	return now.After(tr.Status.ExpirationTimestamp.Time)
}

// NeedsRefresh reports whether a token must be renewed at now: when it
// is older than MaxTTL, or less than 20% of its life is left, either
// brought forward by jitter. Its life is spec.expirationSeconds, which
// the apiserver sets to what it issued; without it the token is kept
// until MaxTTL or its expiry.
func NeedsRefresh(now time.Time, tr *authenticationv1.TokenRequest, jitter time.Duration) bool {
	exp := tr.Status.ExpirationTimestamp.Time
	if tr.Spec.ExpirationSeconds == nil {
		return !now.Before(exp.Add(-jitter))
	}
	ttl := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	issued := exp.Add(-ttl)
	if now.After(issued.Add(MaxTTL - jitter)) {
		return true
	}
	return now.After(exp.Add(-ttl/5 - jitter))
}

// cacheKey names a token by what was asked: ServiceAccount, audiences,
// expiration and bound object. It holds nothing secret, so it may be
// logged.
func cacheKey(namespace, serviceAccount string, tr *authenticationv1.TokenRequest) string {
	var exp int64
	if tr.Spec.ExpirationSeconds != nil {
		exp = *tr.Spec.ExpirationSeconds
	}
	var ref authenticationv1.BoundObjectReference
	if tr.Spec.BoundObjectRef != nil {
		ref = *tr.Spec.BoundObjectRef
	}
	return fmt.Sprintf("%q/%q/%q/%d/%s/%s/%q/%s", namespace, serviceAccount, tr.Spec.Audiences, exp, ref.APIVersion, ref.Kind, ref.Name, ref.UID)
}
