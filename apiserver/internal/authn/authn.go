// Package authn tells who is making a request, as kube-apiserver's
// authenticators do: a client certificate signed by the cluster CA (CN is
// the user, O the groups), a bearer token from the static token file or a
// bootstrap token (a Secret in kube-system), and, when no credential at
// all is sent, the anonymous user. A credential that is sent but not
// accepted is never anonymous: the request fails with 401.
package authn

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// User is an authenticated identity, as Kubernetes' user.Info.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra holds what an authenticator knows besides name and groups
	// (a service account token's pod, for one); CertificateSigningRequests
	// record it.
	Extra map[string][]string
	// Audiences are those of the token the user logged in with (a
	// ServiceAccount token's), as Kubernetes' authenticator.Response; a
	// TokenReview reports them.
	Audiences []string
}

// InGroup reports whether u is a member of group.
func (u *User) InGroup(group string) bool {
	for _, g := range u.Groups {
		if g == group {
			return true
		}
	}
	return false
}

type userKey struct{}

// WithUser returns ctx carrying the request's authenticated user, for
// what reads it further down (strategies that record the requester).
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user WithUser put in ctx.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok && u != nil
}

// Authenticator identifies the user behind a request. ok is false when the
// request carries no credential this authenticator understands.
type Authenticator interface {
	Authenticate(r *http.Request) (user *User, ok bool, err error)
}

// ErrInvalidToken is returned for a bearer token no authenticator accepts.
var ErrInvalidToken = errors.New("invalid bearer token")

// Union tries each authenticator in turn.
type Union []Authenticator

// Authenticate implements Authenticator.
func (u Union) Authenticate(r *http.Request) (*User, bool, error) {
	var firstErr error
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if ok {
			return user, true, nil
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return nil, false, firstErr
}

// ClientCert authenticates TLS client certificates that Roots (the
// cluster CA) signed for client use, as kube-apiserver's x509
// authenticator: the TLS server only asks for a certificate, and the
// chain is verified here, so that a certificate of another CA is a 401
// that says why, not a failed handshake.
type ClientCert struct {
	Roots *x509.CertPool
}

// Authenticate implements Authenticator.
func (c ClientCert) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	certs := r.TLS.PeerCertificates
	opts := x509.VerifyOptions{Roots: c.Roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, ic := range certs[1:] {
		opts.Intermediates.AddCert(ic)
	}
	cert := certs[0]
	if _, err := cert.Verify(opts); err != nil {
		return nil, false, fmt.Errorf("verifying certificate SN=%s, CN=%q failed: %w", cert.SerialNumber, cert.Subject.CommonName, err)
	}
	if cert.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate has no common name")
	}
	groups := append([]string{}, cert.Subject.Organization...)
	return &User{Name: cert.Subject.CommonName, Groups: append(groups, AllAuthenticated)}, true, nil
}

// Groups every authenticated user belongs to, and the anonymous user.
const (
	AllAuthenticated   = "system:authenticated"
	AllUnauthenticated = "system:unauthenticated"
	Anonymous          = "system:anonymous"
)

// TokenAuthenticator identifies the user a bearer token stands for. ok is
// false when the token is not one of its own; err says why a token that
// looked like one of its own was refused, or that it could not tell.
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (user *User, ok bool, err error)
}

// BearerToken authenticates requests with an "Authorization: Bearer"
// header through each TokenAuthenticator in turn. A token none of them
// accepts is ErrInvalidToken, so that a bad token is a 401 and never
// falls through to the anonymous user.
type BearerToken []TokenAuthenticator

// Authenticate implements Authenticator.
func (b BearerToken) Authenticate(r *http.Request) (*User, bool, error) {
	tok, ok := bearerToken(r)
	if !ok {
		return nil, false, nil
	}
	return b.AuthenticateToken(r.Context(), tok)
}

// AuthenticateToken tries tok with each authenticator in turn; none
// accepting it is ErrInvalidToken, with their reasons.
func (b BearerToken) AuthenticateToken(ctx context.Context, tok string) (*User, bool, error) {
	var errs []error
	for _, a := range b {
		u, ok, err := a.AuthenticateToken(ctx, tok)
		if ok {
			return u, true, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidToken, errors.Join(errs...))
	}
	return nil, false, ErrInvalidToken
}

// WithAnonymous lets requests that carry no credential in as the
// anonymous user (system:anonymous in system:unauthenticated), as
// kube-apiserver's --anonymous-auth: a request a authenticates is its
// user, and one a refuses with an error stays refused.
func WithAnonymous(a Authenticator) Authenticator { return anonymous{a} }

type anonymous struct{ Authenticator }

func (a anonymous) Authenticate(r *http.Request) (*User, bool, error) {
	u, ok, err := a.Authenticator.Authenticate(r)
	if ok || err != nil {
		return u, ok, err
	}
	return &User{Name: Anonymous, Groups: []string{AllUnauthenticated}}, true, nil
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}

// TokenFile authenticates bearer tokens listed in a CSV file in Kubernetes'
// --token-auth-file format: token,user,uid[,"group1,group2"].
type TokenFile struct {
	tokens map[string]*User
}

// LoadTokenFile reads path.
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	tf := &TokenFile{tokens: map[string]*User{}}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("token file %s: %w", path, err)
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("token file %s, line %d: want token,user,uid[,groups]", path, line)
		}
		u := &User{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 && rec[3] != "" {
			u.Groups = strings.Split(rec[3], ",")
		}
		u.Groups = append(u.Groups, AllAuthenticated)
		tf.tokens[rec[0]] = u
	}
	return tf, nil
}

// AuthenticateToken implements TokenAuthenticator.
func (t *TokenFile) AuthenticateToken(_ context.Context, tok string) (*User, bool, error) {
	for known, u := range t.tokens {
		if subtle.ConstantTimeCompare([]byte(known), []byte(tok)) == 1 {
			return u, true, nil
		}
	}
	return nil, false, nil
}

type audiencesKey struct{}

// WithAudiences returns ctx asking the token authenticators to accept
// only tokens for one of auds (a TokenReview's spec.audiences), as
// Kubernetes' authenticator.WithAudiences; without it they accept the
// API audiences.
func WithAudiences(ctx context.Context, auds []string) context.Context {
	return context.WithValue(ctx, audiencesKey{}, auds)
}

// AudiencesFrom returns the audiences WithAudiences put in ctx.
func AudiencesFrom(ctx context.Context) ([]string, bool) {
	auds, ok := ctx.Value(audiencesKey{}).([]string)
	return auds, ok && len(auds) > 0
}
