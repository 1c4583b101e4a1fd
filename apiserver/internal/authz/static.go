package authz

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"coracle.dev/apiserver/internal/authn"
)

// Static is the policy Coracle applies until RBAC: Kubernetes' bootstrap
// roles for the users that join nodes, and everything for everyone else
// who authenticates, which is what every component relied on before
// there were anonymous and bootstrap users.
//
//   - Everyone, anonymous included, may get /healthz, /livez, /readyz and
//     /version (system:public-info-viewer) and the kube-public/cluster-info
//     ConfigMap, which a joining node reads before it has any credential
//     (kubeadm's bootstrap-signer-clusterinfo role).
//   - The anonymous user may do nothing else: discovery is for
//     authenticated users (system:discovery).
//   - Bootstrap token users (system:bootstrappers) may also read discovery
//     and create, get, list and watch CertificateSigningRequests
//     (system:node-bootstrapper), and nothing else.
//   - Any other authenticated user may do anything.
type Static struct{}

var _ Authorizer = Static{}

// Authorize implements Authorizer.
func (Static) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	u := a.User
	switch {
	case u == nil:
		return DecisionNoOpinion, "", nil
	case publicInfo(a) || clusterInfo(a):
		return DecisionAllow, "", nil
	case u.Name == authn.Anonymous || u.InGroup(authn.AllUnauthenticated):
		return DecisionNoOpinion, "", nil
	case u.InGroup(bootstrapapi.BootstrapDefaultGroup):
		if discovery(a) || nodeBootstrapper(a) {
			return DecisionAllow, "", nil
		}
		return DecisionNoOpinion, "", nil
	}
	return DecisionAllow, "", nil
}

// publicInfoPaths are system:public-info-viewer's.
var publicInfoPaths = []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}

// discoveryPaths are system:discovery's.
var discoveryPaths = []string{
	"/healthz", "/livez", "/readyz", "/version", "/version/",
	"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
}

func publicInfo(a Attributes) bool {
	return !a.ResourceRequest && a.Verb == "get" && pathMatches(a.Path, publicInfoPaths)
}

func discovery(a Attributes) bool {
	return !a.ResourceRequest && a.Verb == "get" && pathMatches(a.Path, discoveryPaths)
}

// clusterInfo is a get of kube-public/cluster-info, the ConfigMap whose
// kubeconfig a joining node checks against the CA hash it was given.
func clusterInfo(a Attributes) bool {
	return a.ResourceRequest && a.Verb == "get" && a.APIGroup == "" && a.Resource == "configmaps" && a.Subresource == "" &&
		a.Namespace == metav1.NamespacePublic && a.Name == bootstrapapi.ConfigMapClusterInfo
}

// nodeBootstrapper is system:node-bootstrapper: a kubelet asks for its
// first client certificate and waits for it.
func nodeBootstrapper(a Attributes) bool {
	if !a.ResourceRequest || a.APIGroup != "certificates.k8s.io" || a.Resource != "certificatesigningrequests" || a.Subresource != "" {
		return false
	}
	switch a.Verb {
	case "create", "get", "list", "watch":
		return true
	}
	return false
}

// pathMatches matches RBAC's nonResourceURLs: exactly, or by prefix for a
// pattern ending in "*".
func pathMatches(path string, patterns []string) bool {
	for _, p := range patterns {
		if p == path || (strings.HasSuffix(p, "*") && strings.HasPrefix(path, strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}
