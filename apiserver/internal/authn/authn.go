// Package authn tells who is making a request: a client certificate signed
// by the cluster CA (CN is the user, O the groups, as Kubernetes reads
// them) or a bearer token from the static token file.
package authn

import (
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// User is an authenticated identity.
type User struct {
	Name   string
	UID    string
	Groups []string
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

// ClientCert authenticates verified TLS client certificates. The TLS server
// verifies the chain against the cluster CA before the request arrives.
type ClientCert struct{}

// Authenticate implements Authenticator.
func (ClientCert) Authenticate(r *http.Request) (*User, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, false, nil
	}
	cert := r.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return nil, false, errors.New("client certificate has no common name")
	}
	groups := append([]string{}, cert.Subject.Organization...)
	return &User{Name: cert.Subject.CommonName, Groups: append(groups, "system:authenticated")}, true, nil
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
		u.Groups = append(u.Groups, "system:authenticated")
		tf.tokens[rec[0]] = u
	}
	return tf, nil
}

// Authenticate implements Authenticator.
func (t *TokenFile) Authenticate(r *http.Request) (*User, bool, error) {
	tok, ok := bearerToken(r)
	if !ok {
		return nil, false, nil
	}
	for known, u := range t.tokens {
		if subtle.ConstantTimeCompare([]byte(known), []byte(tok)) == 1 {
			return u, true, nil
		}
	}
	return nil, false, ErrInvalidToken
}
