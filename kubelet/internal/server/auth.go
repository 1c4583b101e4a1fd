package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// The kubelet API authenticates and authorizes as Kubernetes' kubelet in
// webhook mode (its authentication.x509, authentication.webhook,
// authentication.anonymous and authorization.mode: Webhook):
//
//	request ──▶ client certificate (the client CA)  ─┐
//	        ──▶ bearer token (a TokenReview)         ─┼─▶ user ──▶ SubjectAccessReview(s) ──▶ handler
//	        ──▶ neither: anonymous, if allowed       ─┘    401      verb on nodes/<subresource>  403
//
// A bad certificate or token is 401 even when anonymous requests are
// allowed: a failed credential is never taken for no credential.

// Groups Kubernetes gives users.
const (
	AllAuthenticated   = "system:authenticated"
	AllUnauthenticated = "system:unauthenticated"
	Anonymous          = "system:anonymous"
)

// Cache sizes and lifetimes, Kubernetes' defaults for the kubelet
// (authentication.webhook.cacheTTL, authorization.webhook.cacheAuthorizedTTL
// and cacheUnauthorizedTTL).
const (
	DefaultTokenCacheTTL = 2 * time.Minute
	DefaultAllowCacheTTL = 5 * time.Minute
	DefaultDenyCacheTTL  = 30 * time.Second

	tokenCacheSize    = 4096
	decisionCacheSize = 8192
)

// User is who sent a request.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// AuthenticatorOptions configure an Authenticator.
type AuthenticatorOptions struct {
	// ClientCAs verify client certificates; nil accepts none.
	ClientCAs *x509.CertPool
	// TokenReviews, when set, checks bearer tokens with the apiserver
	// (webhook authentication); nil accepts no token.
	TokenReviews authenticationv1client.TokenReviewInterface
	// TokenCacheTTL is how long a review's answer is reused for the
	// same token (DefaultTokenCacheTTL when 0).
	TokenCacheTTL time.Duration
	// Anonymous lets requests without any credential through as
	// system:anonymous, to be authorized as that user.
	Anonymous bool
}

// Authenticator says who sent a request. It is safe for concurrent use.
type Authenticator struct {
	opts  AuthenticatorOptions
	cache *cache.LRUExpireCache // HMAC of a token → tokenResult
	// key is the HMAC key of the cache: tokens themselves are not kept.
	key []byte
}

type tokenResult struct {
	user *User
	ok   bool
}

// NewAuthenticator returns an authenticator.
func NewAuthenticator(opts AuthenticatorOptions) *Authenticator {
	if opts.TokenCacheTTL == 0 {
		opts.TokenCacheTTL = DefaultTokenCacheTTL
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Authenticator{opts: opts, cache: cache.NewLRUExpireCache(tokenCacheSize), key: key}
}

// Errors of authentication; the client is told 401 only.
var (
	ErrInvalidCertificate = errors.New("client certificate not signed by the client CA")
	ErrInvalidToken       = errors.New("invalid bearer token")
)

// Authenticate returns the request's user: the first credential that
// authenticates, of a client certificate and a bearer token. ok is
// false, with a nil error, when the request carries no credential and
// anonymous requests are refused; an error is a credential that failed
// with none succeeding (or a TokenReview that could not be made).
// Authenticated users are in system:authenticated.
func (a *Authenticator) Authenticate(r *http.Request) (*User, bool, error) {
	var errs []error
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		u, err := a.certificateUser(r.TLS.PeerCertificates)
		if err == nil {
			return withAuthenticated(u), true, nil
		}
		errs = append(errs, err)
	}
	if token, ok := bearerToken(r); ok && a.opts.TokenReviews != nil {
		u, ok, err := a.tokenUser(r.Context(), token)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			return withAuthenticated(u), true, nil
		default:
			errs = append(errs, ErrInvalidToken)
		}
	}
	if len(errs) > 0 {
		return nil, false, errors.Join(errs...)
	}
	if a.opts.Anonymous {
		return &User{Name: Anonymous, Groups: []string{AllUnauthenticated}}, true, nil
	}
	return nil, false, nil
}

// certificateUser verifies the client's certificate chain against the
// client CA, for client authentication: the user is the common name,
// the groups the organizations, as Kubernetes' x509 authenticator.
func (a *Authenticator) certificateUser(chain []*x509.Certificate) (*User, error) {
	if a.opts.ClientCAs == nil {
		return nil, ErrInvalidCertificate
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots: a.opts.ClientCAs, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCertificate, err)
	}
	cert := chain[0]
	if cert.Subject.CommonName == "" {
		return nil, fmt.Errorf("%w: no common name", ErrInvalidCertificate)
	}
	return &User{Name: cert.Subject.CommonName, Groups: slices.Clone(cert.Subject.Organization)}, nil
}

// tokenUser asks the apiserver who the token is (a TokenReview for its
// default audiences), reusing an answer, yes or no, for TokenCacheTTL.
// Reviews that fail are not cached.
func (a *Authenticator) tokenUser(ctx context.Context, token string) (*User, bool, error) {
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(token))
	key := string(mac.Sum(nil))
	if v, ok := a.cache.Get(key); ok {
		res := v.(tokenResult)
		return res.user, res.ok, nil
	}
	review, err := a.opts.TokenReviews.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("token review: %w", err)
	}
	res := tokenResult{ok: review.Status.Authenticated}
	if res.ok {
		u := review.Status.User
		res.user = &User{Name: u.Username, UID: u.UID, Groups: u.Groups}
		if len(u.Extra) > 0 {
			res.user.Extra = map[string][]string{}
			for k, v := range u.Extra {
				res.user.Extra[k] = []string(v)
			}
		}
	}
	a.cache.Add(key, res, a.opts.TokenCacheTTL)
	return res.user, res.ok, nil
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// withAuthenticated returns a copy of an authenticated user in
// system:authenticated, as Kubernetes puts every one (u may be cached:
// it is not changed).
func withAuthenticated(u *User) *User {
	out := *u
	if !slices.Contains(u.Groups, AllAuthenticated) {
		out.Groups = append(slices.Clone(u.Groups), AllAuthenticated)
	}
	return &out
}

// Attributes are what a request asks, for authorization: a verb on a
// subresource of the node (resource nodes, group "", version v1).
type Attributes struct {
	User        User
	Verb        string
	Resource    string
	Subresource string
	Name        string
	Path        string
}

// The kubelet API's paths with a subresource of their own; every other
// path is nodes/proxy.
const (
	statsPath      = "/stats/"
	metricsPath    = "/metrics"
	logsPath       = "/logs/"
	checkpointPath = "/checkpoint/"
	statuszPath    = "/statusz"
	flagzPath      = "/flagz"
	podsPath       = "/pods"
	runningPods    = "/runningpods/"
	healthzPath    = "/healthz"
	configzPath    = "/configz"
)

// RequestAttributes maps a request to the checks that authorize it, as
// Kubernetes' kubelet does (its fine-grained authorization, on by
// default since 1.33): the HTTP method gives the verb (GET get, POST
// create, PUT update, PATCH patch, DELETE delete), the path the
// subresource of the node: /stats/* stats, /metrics* metrics, /logs/*
// log, /checkpoint/* checkpoint, /statusz statusz, /flagz configz, and
// everything else — exec, attach, run, portForward, containerLogs — proxy.
// /pods and /runningpods/ are allowed by nodes/pods or nodes/proxy,
// /healthz by nodes/healthz or nodes/proxy, /configz by nodes/configz or
// nodes/proxy: one allowed check is enough.
func RequestAttributes(node string, u User, r *http.Request) []Attributes {
	var verb string
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodGet:
		verb = "get"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	p := r.URL.Path
	var subs []string
	switch {
	case isSubpath(p, podsPath), isSubpath(p, runningPods):
		subs = append(subs, "pods")
	case isSubpath(p, healthzPath):
		subs = append(subs, "healthz")
	case isSubpath(p, configzPath):
		subs = append(subs, "configz")
	}
	switch {
	case isSubpath(p, statsPath):
		subs = append(subs, "stats")
	case isSubpath(p, metricsPath):
		subs = append(subs, "metrics")
	case isSubpath(p, logsPath):
		// "log", as the other log subresources (pods/log).
		subs = append(subs, "log")
	case isSubpath(p, checkpointPath):
		subs = append(subs, "checkpoint")
	case isSubpath(p, statuszPath):
		subs = append(subs, "statusz")
	case isSubpath(p, flagzPath):
		subs = append(subs, "configz")
	default:
		subs = append(subs, "proxy")
	}
	out := make([]Attributes, len(subs))
	for i, s := range subs {
		out[i] = Attributes{User: u, Verb: verb, Resource: "nodes", Subresource: s, Name: node, Path: p}
	}
	return out
}

// isSubpath reports whether sub is path or below it.
func isSubpath(sub, path string) bool {
	path = strings.TrimSuffix(path, "/")
	return sub == path || (strings.HasPrefix(sub, path) && sub[len(path)] == '/')
}

// Authorizer decides whether a user may do what a request asks.
type Authorizer interface {
	// Authorize returns whether the attributes are allowed, with the
	// reason the decision gave; an error means no decision was made.
	Authorize(ctx context.Context, a Attributes) (allowed bool, reason string, err error)
}

// AlwaysAllow is --authorization-mode=AlwaysAllow: every authenticated
// request may do everything.
type AlwaysAllow struct{}

// Authorize implements Authorizer.
func (AlwaysAllow) Authorize(context.Context, Attributes) (bool, string, error) { return true, "", nil }

// WebhookAuthorizer is --authorization-mode=Webhook: it asks the
// apiserver with a SubjectAccessReview, and reuses the answer (allowed
// for allowTTL, denied for denyTTL). It is safe for concurrent use.
type WebhookAuthorizer struct {
	reviews           authorizationv1client.SubjectAccessReviewInterface
	allowTTL, denyTTL time.Duration
	cache             *cache.LRUExpireCache // review spec JSON → decision
}

type decision struct {
	allowed bool
	reason  string
}

// NewWebhookAuthorizer returns an authorizer asking reviews; zero TTLs
// are Kubernetes' defaults.
func NewWebhookAuthorizer(reviews authorizationv1client.SubjectAccessReviewInterface, allowTTL, denyTTL time.Duration) *WebhookAuthorizer {
	if allowTTL == 0 {
		allowTTL = DefaultAllowCacheTTL
	}
	if denyTTL == 0 {
		denyTTL = DefaultDenyCacheTTL
	}
	return &WebhookAuthorizer{reviews: reviews, allowTTL: allowTTL, denyTTL: denyTTL, cache: cache.NewLRUExpireCache(decisionCacheSize)}
}

// Authorize implements Authorizer.
func (w *WebhookAuthorizer) Authorize(ctx context.Context, a Attributes) (bool, string, error) {
	spec := reviewSpec(a)
	b, err := json.Marshal(spec)
	if err != nil {
		return false, "", err
	}
	key := string(b)
	if v, ok := w.cache.Get(key); ok {
		d := v.(decision)
		return d.allowed, d.reason, nil
	}
	review, err := w.reviews.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("subject access review: %w", err)
	}
	d := decision{allowed: review.Status.Allowed, reason: review.Status.Reason}
	ttl := w.denyTTL
	if d.allowed {
		ttl = w.allowTTL
	}
	w.cache.Add(key, d, ttl)
	return d.allowed, d.reason, nil
}

// reviewSpec is the SubjectAccessReview of the attributes.
func reviewSpec(a Attributes) authorizationv1.SubjectAccessReviewSpec {
	spec := authorizationv1.SubjectAccessReviewSpec{
		User: a.User.Name, UID: a.User.UID, Groups: a.User.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.Verb, Group: "", Version: "v1", Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
		},
	}
	if len(a.User.Extra) > 0 {
		spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range a.User.Extra {
			spec.Extra[k] = v
		}
	}
	return spec
}
