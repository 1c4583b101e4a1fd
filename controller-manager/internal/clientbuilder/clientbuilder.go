// Package clientbuilder gives each controller the credentials its
// clients talk to the apiserver with, as kube-controller-manager's
// clientbuilder does: either the manager's own (Root), or, with
// --use-service-account-credentials, one ServiceAccount in kube-system
// per controller (ServiceAccounts), so that each controller holds only
// the rights the apiserver's bootstrap policy gives
// system:serviceaccount:kube-system:<its name>.
//
// A ServiceAccount's tokens come from the TokenRequest API, asked with
// the manager's own credentials: an hour's token, renewed once 80% of
// its life has passed, and at once when the apiserver answers 401 (the
// ServiceAccount was deleted and re-created, the signing key changed).
// The clients never see a token: a wrapping RoundTripper adds it to each
// request.
//
//	manager's client ──TokenRequest──► token (1h) ──cached until 80%──►
//	      Authorization: Bearer … on every request of the controller's clients
package clientbuilder

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// Builder makes the REST configuration of a controller's clients.
type Builder interface {
	// Config returns a fresh configuration that authenticates as the
	// controller whose ServiceAccount is serviceAccount: a copy the
	// caller may change (user agent, rate limit).
	Config(ctx context.Context, serviceAccount string) (*rest.Config, error)
}

// Root returns the Builder of the manager's own credentials: every
// controller talks as the manager's kubeconfig user
// (system:kube-controller-manager), whatever its ServiceAccount.
func Root(cfg *rest.Config) Builder { return root{cfg: cfg} }

type root struct{ cfg *rest.Config }

func (r root) Config(context.Context, string) (*rest.Config, error) {
	return rest.CopyConfig(r.cfg), nil
}

// Defaults of ServiceAccounts, Kubernetes' own.
const (
	// DefaultExpiration is the life of the tokens asked for.
	DefaultExpiration = time.Hour
	// renewAt is how much of a token's life passes before it is
	// renewed, in percent.
	renewAt = 80
	// minLifetime is the shortest life a token is taken to have: a
	// shorter one the apiserver answers is clock skew, and renewing it
	// at once would only hammer the TokenRequest API.
	minLifetime = 10 * time.Minute
)

// Options configure ServiceAccounts.
type Options struct {
	// Namespace holds the controllers' ServiceAccounts; "" means
	// kube-system. It must be a namespace ordinary users cannot read the
	// ServiceAccounts of or create pods in.
	Namespace string
	// Expiration is the life of the tokens asked for; 0 means an hour.
	Expiration time.Duration
	// Log receives warnings about tokens that could not be had; nil
	// means none.
	Log *zap.Logger
	// Clock tells when a token was issued; nil means the real one.
	Clock clock.PassiveClock
}

// ServiceAccounts is the Builder of per-controller credentials: each
// controller's clients authenticate with tokens of its ServiceAccount,
// which ServiceAccounts creates if missing.
type ServiceAccounts struct {
	// ctx bounds every request made for a token: the token sources are
	// called by RoundTrippers, which have no context of their own to
	// give.
	ctx  context.Context
	base *rest.Config
	core typedcorev1.CoreV1Interface
	opts Options

	mu    sync.Mutex                                           // guards wraps
	wraps map[string]func(http.RoundTripper) http.RoundTripper // per ServiceAccount: one token cache for all its clients
}

var _ Builder = (*ServiceAccounts)(nil)

// NewServiceAccounts returns the Builder of per-controller credentials.
// root is the manager's configuration: the controllers' configurations
// are copies of it without its credentials. core, a client with the
// manager's credentials, makes the ServiceAccounts and asks for their
// tokens. ctx bounds those requests: the manager's run.
func NewServiceAccounts(ctx context.Context, root *rest.Config, core typedcorev1.CoreV1Interface, o Options) *ServiceAccounts {
	if o.Namespace == "" {
		o.Namespace = metav1.NamespaceSystem
	}
	if o.Expiration == 0 {
		o.Expiration = DefaultExpiration
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return &ServiceAccounts{
		ctx: ctx, base: rest.AnonymousClientConfig(root), core: core, opts: o,
		wraps: map[string]func(http.RoundTripper) http.RoundTripper{},
	}
}

// Username is the user a ServiceAccount's tokens authenticate as.
func Username(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Config implements Builder: it makes sure the ServiceAccount exists and
// returns a configuration whose requests carry its tokens. The first
// token is asked for with the first request.
func (s *ServiceAccounts) Config(ctx context.Context, serviceAccount string) (*rest.Config, error) {
	if err := s.ensure(ctx, serviceAccount); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(s.base)
	s.mu.Lock()
	defer s.mu.Unlock()
	wrap, ok := s.wraps[serviceAccount]
	if !ok {
		wrap = transport.ResettableTokenSourceWrapTransport(transport.NewCachedTokenSource(&tokenSource{s: s, name: serviceAccount}))
		s.wraps[serviceAccount] = wrap
	}
	cfg.Wrap(wrap)
	return cfg, nil
}

// ensure creates the ServiceAccount if it does not exist, and its
// namespace if that does not either (tolerating a refusal: the
// namespace may well exist and the manager not be allowed to read it).
func (s *ServiceAccounts) ensure(ctx context.Context, name string) error {
	ns := s.opts.Namespace
	_, err := s.core.ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get service account %s/%s: %w", ns, name, err)
	}
	if _, err := s.core.Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = s.core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			s.opts.Log.Warn("could not create the controllers' namespace", zap.String("namespace", ns), zap.Error(err))
		}
	}
	_, err = s.core.ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s: %w", ns, name, err)
	}
	return nil
}

// tokenBackoff spaces the attempts at a token: about 7s in all, as
// Kubernetes', before a request of the controller fails.
var tokenBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Steps: 4}

// tokenSource asks the TokenRequest API for tokens of one ServiceAccount;
// client-go's caching source in front of it calls it only when the last
// token is due for renewal, or was refused.
type tokenSource struct {
	s    *ServiceAccounts
	name string
}

// Token implements oauth2.TokenSource. Its Expiry is when the token is
// to be renewed, not when it expires.
func (t *tokenSource) Token() (*oauth2.Token, error) {
	s, ns := t.s, t.s.opts.Namespace
	var tr *authenticationv1.TokenRequest
	var lastErr error
	err := wait.ExponentialBackoffWithContext(s.ctx, tokenBackoff, func(ctx context.Context) (bool, error) {
		// The ServiceAccount may have been deleted since: a token
		// refused with 401 brings us here.
		if err := s.ensure(ctx, t.name); err != nil {
			lastErr = err
			return false, nil
		}
		var err error
		tr, err = s.core.ServiceAccounts(ns).CreateToken(ctx, t.name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(s.opts.Expiration / time.Second))},
		}, metav1.CreateOptions{})
		if err != nil {
			lastErr = fmt.Errorf("request token: %w", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if lastErr == nil {
			lastErr = err
		}
		s.opts.Log.Warn("no token for a controller's service account", zap.String("serviceAccount", ns+"/"+t.name), zap.Error(lastErr))
		return nil, fmt.Errorf("token for service account %s/%s: %w", ns, t.name, lastErr)
	}
	return &oauth2.Token{AccessToken: tr.Status.Token, TokenType: "Bearer", Expiry: RenewAt(s.opts.Clock.Now(), tr.Status.ExpirationTimestamp.Time)}, nil
}

// RenewAt is when a token got at now that expires at expires is to be
// renewed: once 80% of its life has passed, its life taken to be at
// least ten minutes.
func RenewAt(now, expires time.Time) time.Time {
	life := max(expires.Sub(now), minLifetime)
	return now.Add(life * renewAt / 100)
}
