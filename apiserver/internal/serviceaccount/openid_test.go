package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authenticationv1 "k8s.io/api/authentication/v1"
)

func TestOpenIDConfiguration(t *testing.T) {
	key, _ := testKeys(t)
	tests := []struct {
		name, issuer, jwksURI, external string
		wantJWKS                        string
		err                             string
	}{
		{name: "jwks under the issuer", issuer: testIssuer, wantJWKS: testIssuer + "/openid/v1/jwks"},
		{name: "jwks under the external address", issuer: testIssuer, external: "10.0.0.1:6443", wantJWKS: "https://10.0.0.1:6443/openid/v1/jwks"},
		{name: "jwks uri flag wins", issuer: testIssuer, external: "10.0.0.1:6443", jwksURI: "https://keys.example/jwks", wantJWKS: "https://keys.example/jwks"},
		{name: "issuer with a path", issuer: "https://id.example/cluster-a", wantJWKS: "https://id.example/cluster-a/openid/v1/jwks"},
		{name: "http issuer", issuer: "http://kubernetes.default.svc", err: "issuer URL must use https scheme"},
		{name: "issuer with a query", issuer: "https://id.example/?a=b", err: "issuer URL may not include a query"},
		{name: "http jwks uri", issuer: testIssuer, jwksURI: "http://keys.example/jwks", err: "jwksURI requires https scheme"},
		{name: "no issuer", err: "empty issuer URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewOpenIDMetadata(tt.issuer, tt.jwksURI, tt.external, []crypto.PublicKey{&key.PublicKey})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(m.ConfigJSON(), &doc); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"issuer":                                tt.issuer,
				"jwks_uri":                              tt.wantJWKS,
				"response_types_supported":              []any{"id_token"},
				"subject_types_supported":               []any{"public"},
				"id_token_signing_alg_values_supported": []any{"RS256"},
			}
			if !reflect.DeepEqual(doc, want) {
				t.Fatalf("discovery document %v\nwant %v", doc, want)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	rsaKey, _ := testKeys(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The signing key given twice (as the key files and the signer) is
	// published once; a private key is published as its public half.
	m, err := NewOpenIDMetadata(testIssuer, "", "", []crypto.PublicKey{&rsaKey.PublicKey, rsaKey, &ecKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(m.KeysetJSON(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 2 {
		t.Fatalf("%d keys: %s", len(raw.Keys), m.KeysetJSON())
	}
	rsaID, _ := KeyID(&rsaKey.PublicKey)
	ecID, _ := KeyID(&ecKey.PublicKey)
	for i, want := range []map[string]string{
		{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": rsaID},
		{"kty": "EC", "alg": "ES256", "use": "sig", "kid": ecID, "crv": "P-256"},
	} {
		for k, v := range want {
			if raw.Keys[i][k] != v {
				t.Errorf("key %d: %s = %v, want %v", i, k, raw.Keys[i][k], v)
			}
		}
		if _, private := raw.Keys[i]["d"]; private {
			t.Errorf("key %d publishes its private part", i)
		}
	}
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	_ = json.Unmarshal(m.ConfigJSON(), &doc)
	if !reflect.DeepEqual(doc.Algs, []string{"ES256", "RS256"}) {
		t.Errorf("algorithms %v", doc.Algs)
	}

	// A relying party verifies an issued token with the published key.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.KeysetJSON(), &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(request(t, cluster(), authenticationv1.TokenRequestSpec{}).TokenRequest.Status.Token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	published := set.Key(tok.Headers[0].KeyID)
	if len(published) != 1 {
		t.Fatalf("no published key for kid %q", tok.Headers[0].KeyID)
	}
	var claims jwt.Claims
	if err := tok.Claims(published[0].Key, &claims); err != nil || claims.Issuer != testIssuer {
		t.Fatalf("verify with the published key: %v (iss %q)", err, claims.Issuer)
	}
}

func TestOpenIDHandlers(t *testing.T) {
	key, _ := testKeys(t)
	m, err := NewOpenIDMetadata(testIssuer, "", "", []crypto.PublicKey{&key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		handler     http.Handler
		contentType string
		body        []byte
	}{
		{m.ConfigHandler(), "application/json", m.ConfigJSON()},
		{m.KeysetHandler(), "application/jwk-set+json", m.KeysetJSON()},
	} {
		rec := httptest.NewRecorder()
		tt.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != tt.contentType ||
			rec.Header().Get("Cache-Control") != "public, max-age=3600" || rec.Body.String() != string(tt.body) {
			t.Errorf("%s: %d %v %q", tt.contentType, rec.Code, rec.Header(), rec.Body.String())
		}
		rec = httptest.NewRecorder()
		tt.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: POST answered %d", tt.contentType, rec.Code)
		}
	}
}
