package server

import (
	"context"
	"crypto"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/gin-gonic/gin"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/serviceaccount"
)

// serviceAccounts are the apiserver's ServiceAccount token pieces: the
// issuer that signs TokenRequests, the authenticator of the tokens, and
// the OIDC discovery documents.
type serviceAccounts struct {
	issuer   *serviceaccount.Issuer
	requests *serviceaccount.TokenRequests
	authn    *serviceaccount.Authenticator
	oidc     *serviceaccount.OpenIDMetadata
}

// setUpServiceAccounts loads (or, the first time, creates) the signing
// key, DATA_DIR/pki/sa.key as kubeadm names it, unless
// --service-account-signing-key-file names one, and builds the token
// pieces. The verification keys are the signing key's and those of
// --service-account-key-file.
func (s *Server) setUpServiceAccounts() error {
	keyFile := s.cfg.ServiceAccountSigningKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(s.cfg.DataDir, "pki", "sa.key")
	}
	signer, err := serviceaccount.LoadOrCreateKey(keyFile)
	if err != nil {
		return fmt.Errorf("--service-account-signing-key-file: %w", err)
	}
	keys := []crypto.PublicKey{signer.Public()}
	if len(s.cfg.ServiceAccountKeyFiles) > 0 {
		more, err := serviceaccount.LoadPublicKeys(s.cfg.ServiceAccountKeyFiles...)
		if err != nil {
			return fmt.Errorf("--service-account-key-file: %w", err)
		}
		keys = append(keys, more...)
	}
	auds := s.apiAudiences()
	getter := objectGetter{s}
	sa := &serviceAccounts{issuer: &serviceaccount.Issuer{Issuer: s.cfg.ServiceAccountIssuers[0], Signer: signer}}
	sa.requests = &serviceaccount.TokenRequests{
		Issuer: sa.issuer, Objects: getter, APIAudiences: auds,
		MaxExpiration: s.cfg.ServiceAccountMaxTokenExpiration, ExtendExpiration: s.cfg.ServiceAccountExtendTokenExpiration,
	}
	if sa.authn, err = serviceaccount.NewAuthenticator(serviceaccount.AuthenticatorOptions{
		Issuers: s.cfg.ServiceAccountIssuers, Keys: keys, APIAudiences: auds, Objects: getter, Legacy: true,
	}); err != nil {
		return err
	}
	external := net.JoinHostPort(s.advertise.String(), strconv.Itoa(s.cfg.SecurePort))
	if sa.oidc, err = serviceaccount.NewOpenIDMetadata(s.cfg.ServiceAccountIssuers[0], s.cfg.ServiceAccountJWKSURI, external, keys); err != nil {
		// As kube-apiserver: an issuer that is no https URL only means no
		// discovery documents.
		s.log.Warn("service account issuer discovery disabled: " + err.Error())
		sa.oidc = nil
	}
	s.sa = sa
	return nil
}

// apiAudiences are --api-audiences, by default the issuers.
func (s *Server) apiAudiences() []string {
	if len(s.cfg.APIAudiences) > 0 {
		return s.cfg.APIAudiences
	}
	return s.cfg.ServiceAccountIssuers
}

// tokenAction is serviceaccounts/token.
func (s *Server) tokenAction() *apiresource.Action {
	return &apiresource.Action{
		GVK: authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"),
		New: func() runtime.Object { return &authenticationv1.TokenRequest{} },
		Do: func(ctx context.Context, namespace, name string, body runtime.Object) (runtime.Object, error) {
			tr := body.(*authenticationv1.TokenRequest)
			if err := s.admitTokenRequest(ctx, namespace, name, tr); err != nil {
				return nil, err
			}
			issued, err := s.sa.requests.Create(ctx, namespace, name, tr)
			if err != nil {
				return nil, err
			}
			return issued.TokenRequest, nil
		},
	}
}

// installOIDC serves the issuer's discovery documents to anyone allowed
// (system:service-account-issuer-discovery binds them to authenticated
// users).
func (s *Server) installOIDC(r gin.IRoutes) {
	if s.sa == nil || s.sa.oidc == nil {
		return
	}
	r.GET("/.well-known/openid-configuration", gin.WrapH(s.sa.oidc.ConfigHandler()))
	r.GET("/openid/v1/jwks", gin.WrapH(s.sa.oidc.KeysetHandler()))
}

// objectGetter reads what tokens name (Server.lookup).
type objectGetter struct{ s *Server }

var _ serviceaccount.Getter = objectGetter{}

func (g objectGetter) get(ctx context.Context, res, namespace, name string) (runtime.Object, error) {
	return g.s.lookup(ctx, "", res, namespace, name)
}

func (g objectGetter) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	obj, err := g.get(ctx, "serviceaccounts", namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ServiceAccount), nil
}

func (g objectGetter) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	obj, err := g.get(ctx, "pods", namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

func (g objectGetter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	obj, err := g.get(ctx, "secrets", namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

func (g objectGetter) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	obj, err := g.get(ctx, "nodes", "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}
