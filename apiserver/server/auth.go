package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/audit"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/endpoints"
	"coracle.dev/apiserver/internal/impersonation"
	"coracle.dev/apiserver/internal/nodeauth"
	"coracle.dev/apiserver/internal/rbac"
	"coracle.dev/apiserver/internal/watchcache"
)

// Authorization modes, as kube-apiserver's --authorization-mode.
const (
	ModeAlwaysAllow = "AlwaysAllow"
	ModeNode        = "Node"
	ModeRBAC        = "RBAC"
)

// tokenReviewer answers TokenReviews with the apiserver's own token
// authenticators.
type tokenReviewer struct{ s *Server }

func (t tokenReviewer) AuthenticateToken(ctx context.Context, token string) (*authn.User, bool, error) {
	return t.s.tokens.AuthenticateToken(ctx, token)
}

// authorizer answers SubjectAccessReviews with the apiserver's authorizer.
type authorizer struct{ s *Server }

func (a authorizer) Authorize(ctx context.Context, attrs authz.Attributes) (authz.Decision, string, error) {
	return a.s.authz.Authorize(ctx, attrs)
}

// ruleResolver answers SelfSubjectRulesReviews: everything for
// system:masters, else what RBAC grants plus, for a node, the rules the
// Node authorizer applies (incomplete: it also allows what its pods
// reference, which no rule lists), as kube-apiserver merges its
// authorizers' rules.
type ruleResolver struct{ s *Server }

func (r ruleResolver) RulesFor(_ context.Context, u *authn.User, namespace string) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule, bool, error) {
	if u.InGroup(authz.SystemPrivilegedGroup) || slices.Contains(r.s.cfg.AuthorizationModes, ModeAlwaysAllow) {
		// Everything, as upstream's privileged-group and always-allow
		// authorizers list it.
		return []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
			[]authorizationv1.NonResourceRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}, false, nil
	}
	var (
		rules      []rbacv1.PolicyRule
		errs       []error
		incomplete bool
	)
	if r.s.rbac != nil {
		rules, errs = r.s.rbac.RulesFor(u, namespace)
	}
	if _, node := nodeauth.NodeIdentity(u); node && r.s.nodeRules {
		rules = append(rbac.NodeRules(), rules...)
		incomplete = true
	}
	st := rbac.RulesReviewStatus(rules, errs)
	var err error
	if st.EvaluationError != "" {
		err = errors.New(st.EvaluationError)
		incomplete = true
	}
	return st.ResourceRules, st.NonResourceRules, incomplete, err
}

// rbacLister reads RBAC objects from the watch caches.
type rbacLister struct{ s *Server }

var _ rbac.Lister = rbacLister{}

func (l rbacLister) cache(res string) *watchcache.Cache {
	return l.s.store(rbacv1.GroupName, res).Cache()
}

func (l rbacLister) GetRole(namespace, name string) (*rbacv1.Role, error) {
	if obj := l.s.cached(rbacv1.GroupName, "roles", namespace, name); obj != nil {
		return obj.(*rbacv1.Role), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "role"}, name)
}

func (l rbacLister) GetClusterRole(name string) (*rbacv1.ClusterRole, error) {
	if obj := l.s.cached(rbacv1.GroupName, "clusterroles", "", name); obj != nil {
		return obj.(*rbacv1.ClusterRole), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrole"}, name)
}

func (l rbacLister) ListRoleBindings(namespace string) ([]*rbacv1.RoleBinding, error) {
	if namespace == "" {
		return nil, nil
	}
	objs, _ := l.cache("rolebindings").List(watchcache.Predicate{Namespace: namespace, Field: fields.Everything()})
	out := make([]*rbacv1.RoleBinding, len(objs))
	for i, o := range objs {
		out[i] = o.(*rbacv1.RoleBinding)
	}
	return out, nil
}

func (l rbacLister) ListClusterRoleBindings() ([]*rbacv1.ClusterRoleBinding, error) {
	objs, _ := l.cache("clusterrolebindings").List(watchcache.Predicate{Field: fields.Everything()})
	out := make([]*rbacv1.ClusterRoleBinding, len(objs))
	for i, o := range objs {
		out[i] = o.(*rbacv1.ClusterRoleBinding)
	}
	return out, nil
}

// buildAuthorizer makes the chain --authorization-mode names, behind the
// system:masters authorizer kube-apiserver always puts first.
func (s *Server) buildAuthorizer() error {
	chain := authz.Chain{authz.PrivilegedGroups{authz.SystemPrivilegedGroup}}
	for _, mode := range s.cfg.AuthorizationModes {
		switch mode {
		case ModeAlwaysAllow:
			chain = append(chain, authz.AlwaysAllow{})
		case ModeNode:
			s.nodeRules = true
			chain = append(chain, s.nodeAuthorizer())
			s.restriction = nodeauth.NewRestriction(s.nodeObjects, s.nodeObjects, authorizer{s})
		case ModeRBAC:
			s.rbac = rbac.New(rbacLister{s})
			chain = append(chain, s.rbac)
		default:
			return fmt.Errorf("--authorization-mode: unknown mode %q", mode)
		}
	}
	s.authz = chain
	return nil
}

// impersonationMiddleware turns a request with Impersonate-* headers into
// one of the user they name, once the authorizer allowed the
// impersonation, as kube-apiserver's impersonation filter.
func (s *Server) impersonationMiddleware(c *gin.Context) {
	if !impersonation.Requested(c.Request.Header) {
		c.Next()
		return
	}
	requestor, _ := UserFrom(c)
	u, err := impersonation.Impersonate(c.Request.Context(), c.Request, requestor, s.authz)
	if err != nil {
		var status metav1.Status
		if se, ok := err.(apierrors.APIStatus); ok {
			status = se.Status()
		} else {
			status = apierrors.NewInternalError(err).Status()
		}
		status.Kind, status.APIVersion = "Status", "v1"
		c.AbortWithStatusJSON(int(status.Code), &status)
		return
	}
	s.log.Debug("impersonating", zap.String("user", requestor.Name), zap.String("as", u.Name))
	audit.EntryFrom(c.Request.Context()).SetImpersonatedUser(u)
	c.Set(ctxUser, u)
	c.Request = c.Request.WithContext(authn.WithUser(c.Request.Context(), u))
	c.Next()
}

// authorizeVerb authorizes req again as verb, for the API's
// AuthorizeVerb: a GET (WebSocket) upgrade to pods' exec, attach or
// portforward must also be allowed to create, as upstream's
// ensureAuthorizedForVerb checks under its
// AuthorizePodWebsocketUpgradeCreatePermission, on by default since 1.35.
// Refused, it is upstream's 403: the resource, the name and the
// authorizer's reason.
func (s *Server) authorizeVerb(req *http.Request, verb string) error {
	info := endpoints.NewRequestInfo(req)
	if info.Verb == verb {
		// Authorized already, before routing.
		return nil
	}
	u, _ := authn.UserFrom(req.Context())
	decision, reason, err := s.authz.Authorize(req.Context(), authz.Attributes{
		User: u, Verb: verb, ResourceRequest: info.IsResourceRequest, Path: info.Path,
		APIGroup: info.Group, APIVersion: info.Version, Namespace: info.Namespace,
		Resource: info.Resource, Subresource: info.Subresource, Name: info.Name,
	})
	if err != nil {
		return err
	}
	if decision != authz.DecisionAllow {
		return apierrors.NewForbidden(schema.GroupResource{Group: info.Group, Resource: info.Resource}, info.Name, errors.New(reason))
	}
	return nil
}
