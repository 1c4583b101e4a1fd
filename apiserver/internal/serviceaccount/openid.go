package serviceaccount

import (
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

const (
	// OpenIDConfigPath is where the OpenID Connect discovery document of
	// the token issuer is served.
	OpenIDConfigPath = "/.well-known/openid-configuration"
	// JWKSPath is where the keys that verify tokens are served, as a JSON
	// Web Key Set.
	JWKSPath = "/openid/v1/jwks"

	// ConfigContentType and JWKSContentType are the documents' types.
	ConfigContentType = "application/json"
	JWKSContentType   = "application/jwk-set+json"

	// cacheMaxAge is how long relying parties may cache the documents, as
	// upstream's static key getter: a new key must be published this long
	// before it signs.
	cacheMaxAge = 3600
)

// OpenIDMetadata holds the rendered discovery documents of the token
// issuer, as kube-apiserver serves them to let others (cloud identity
// federation, other clusters) verify its ServiceAccount tokens.
type OpenIDMetadata struct {
	config []byte
	keyset []byte
}

// NewOpenIDMetadata renders the discovery documents of issuerURL, which
// must be an https URL without query or fragment, as OIDC requires, and
// keys (the verification keys). The document's jwks_uri is jwksURI
// (--service-account-jwks-uri, https) if set, else
// https://externalAddress/openid/v1/jwks if externalAddress (the
// apiserver's advertised host:port) is set, else issuerURL +
// /openid/v1/jwks. Upstream logs such an error and serves no discovery.
func NewOpenIDMetadata(issuerURL, jwksURI, externalAddress string, keys []crypto.PublicKey) (*OpenIDMetadata, error) {
	if issuerURL == "" {
		return nil, fmt.Errorf("empty issuer URL")
	}
	iss, err := url.Parse(issuerURL)
	if err != nil {
		return nil, err
	}
	switch {
	case iss.Scheme != "https":
		return nil, fmt.Errorf("issuer URL must use https scheme, got: %s", issuerURL)
	case iss.RawQuery != "":
		return nil, fmt.Errorf("issuer URL may not include a query, got: %s", issuerURL)
	case iss.Fragment != "":
		return nil, fmt.Errorf("issuer URL may not include a fragment, got: %s", issuerURL)
	}
	switch {
	case jwksURI != "":
		u, err := url.Parse(jwksURI)
		if err != nil {
			return nil, err
		}
		if u.Scheme != "https" {
			return nil, fmt.Errorf("jwksURI requires https scheme, parsed as: %v", u.String())
		}
	case externalAddress != "":
		u := &url.URL{Scheme: "https", Host: externalAddress, Path: JWKSPath}
		jwksURI = u.String()
		if parsed, err := url.Parse(jwksURI); err != nil || parsed.Host != u.Host || parsed.Path != u.Path {
			return nil, fmt.Errorf("attempted to build jwks_uri from external address %s, but could not construct a valid URL", externalAddress)
		}
	default:
		jwksURI = iss.JoinPath(JWKSPath).String()
	}

	indexed, err := indexKeys(keys)
	if err != nil {
		return nil, err
	}
	if len(indexed) == 0 {
		return nil, fmt.Errorf("no keys provided for validating keyset")
	}
	var set jose.JSONWebKeySet
	var algs []string
	for i, k := range indexed {
		alg, err := algorithm(k.key)
		if err != nil {
			return nil, fmt.Errorf("error constructing JWK for key #%d: %w", i, err)
		}
		jwk := jose.JSONWebKey{Algorithm: string(alg), Key: k.key, KeyID: k.id, Use: "sig"}
		if !jwk.IsPublic() || !jwk.Valid() {
			return nil, fmt.Errorf("key #%d not valid", i)
		}
		set.Keys = append(set.Keys, jwk)
		if !slices.Contains(algs, string(alg)) {
			algs = append(algs, string(alg))
		}
	}
	slices.Sort(algs)
	config, err := json.Marshal(openIDConfiguration{
		Issuer:        issuerURL,
		JWKSURI:       jwksURI,
		ResponseTypes: []string{"id_token"},
		SubjectTypes:  []string{"public"},
		SigningAlgs:   algs,
	})
	if err != nil {
		return nil, fmt.Errorf("could not marshal issuer discovery JSON, error: %w", err)
	}
	keyset, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("could not marshal issuer keys JSON, error: %w", err)
	}
	return &OpenIDMetadata{config: config, keyset: keyset}, nil
}

// openIDConfiguration is the subset of OIDC provider metadata a relying
// party needs to verify ID tokens; Kubernetes serves no login endpoints.
type openIDConfiguration struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"`
	SubjectTypes  []string `json:"subject_types_supported"`
	SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
}

// ConfigJSON is the discovery document, served at OpenIDConfigPath as
// ConfigContentType.
func (m *OpenIDMetadata) ConfigJSON() []byte { return m.config }

// KeysetJSON is the key set, served at JWKSPath as JWKSContentType.
func (m *OpenIDMetadata) KeysetJSON() []byte { return m.keyset }

// ConfigHandler serves ConfigJSON.
func (m *OpenIDMetadata) ConfigHandler() http.Handler {
	return serveDocument(m.config, ConfigContentType)
}

// KeysetHandler serves KeysetJSON.
func (m *OpenIDMetadata) KeysetHandler() http.Handler {
	return serveDocument(m.keyset, JWKSContentType)
}

// serveDocument answers GET with body, cacheable by anyone for an hour
// (overriding the API's "no-cache").
func serveDocument(body []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", cacheMaxAge))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
