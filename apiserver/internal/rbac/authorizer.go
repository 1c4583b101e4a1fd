package rbac

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// Lister reads the RBAC objects the authorizer decides on, as Kubernetes'
// listers do: a missing role is an apierrors NotFound error, worded as a
// client-go lister words it (`clusterrole.rbac.authorization.k8s.io "x"
// not found`), since that text reaches users in a 403's reason.
// Implementations are safe for concurrent use and hand out objects the
// authorizer only reads.
type Lister interface {
	GetRole(namespace, name string) (*rbacv1.Role, error)
	GetClusterRole(name string) (*rbacv1.ClusterRole, error)
	ListRoleBindings(namespace string) ([]*rbacv1.RoleBinding, error)
	ListClusterRoleBindings() ([]*rbacv1.ClusterRoleBinding, error)
}

// Authorizer is Kubernetes' RBAC authorizer: a request is allowed when a
// rule of a role bound to the user allows it. ClusterRoleBindings grant
// their role's rules everywhere; RoleBindings grant theirs (a Role's, or
// a ClusterRole's) only in their own namespace. It never denies: what no
// rule allows is left to the other authorizers.
type Authorizer struct {
	lister Lister
}

var _ authz.Authorizer = (*Authorizer)(nil)

// New returns the RBAC authorizer over the objects l lists.
func New(l Lister) *Authorizer { return &Authorizer{lister: l} }

// Authorize allows the request on the first rule that allows it, with
// upstream's reason naming the binding ("RBAC: allowed by
// ClusterRoleBinding ..."). Otherwise it has no opinion; the errors met
// on the way (a binding to a role that does not exist, a failed list)
// become the reason, as Kubernetes puts them in the 403's message. Those
// errors do not fail the request: rules only add permissions, so what
// could be read still decides.
func (a *Authorizer) Authorize(_ context.Context, attrs authz.Attributes) (authz.Decision, string, error) {
	var (
		allowedBy fmt.Stringer
		errs      []error
	)
	a.visitRulesFor(attrs.User, attrs.Namespace, func(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if rule != nil && RuleAllows(attrs, rule) {
			allowedBy = source
			return false
		}
		if err != nil {
			errs = append(errs, err)
		}
		return true
	})
	if allowedBy != nil {
		return authz.DecisionAllow, "RBAC: allowed by " + allowedBy.String(), nil
	}
	reason := ""
	if len(errs) > 0 {
		reason = fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs))
	}
	return authz.DecisionNoOpinion, reason, nil
}

// RulesFor returns every rule granted to user in namespace (cluster-wide
// ones included; namespace "" gives only those), and the errors met
// resolving them. The rules are valid even when errors come with them:
// what could not be read only makes the list incomplete.
func (a *Authorizer) RulesFor(user *authn.User, namespace string) ([]rbacv1.PolicyRule, []error) {
	var (
		rules []rbacv1.PolicyRule
		errs  []error
	)
	a.visitRulesFor(user, namespace, func(_ fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if rule != nil {
			rules = append(rules, *rule)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return true
	})
	return rules, errs
}

// RulesReviewStatus is what Kubernetes' RBAC authorizer contributes to a
// SelfSubjectRulesReview: the rules split into resource and non-resource
// rules (a rule naming both goes in both), and the errors as the
// evaluation error. RBAC lists all it grants, so it never reports itself
// incomplete; an authorizer that cannot (the Node authorizer) sets
// Incomplete when the statuses are merged.
func RulesReviewStatus(rules []rbacv1.PolicyRule, errs []error) authorizationv1.SubjectRulesReviewStatus {
	status := authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    []authorizationv1.ResourceRule{},
		NonResourceRules: []authorizationv1.NonResourceRule{},
	}
	for _, r := range rules {
		if len(r.Resources) > 0 {
			status.ResourceRules = append(status.ResourceRules, authorizationv1.ResourceRule{
				Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames,
			})
		}
		if len(r.NonResourceURLs) > 0 {
			status.NonResourceRules = append(status.NonResourceRules, authorizationv1.NonResourceRule{
				Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs,
			})
		}
	}
	if err := utilerrors.NewAggregate(errs); err != nil {
		status.EvaluationError = err.Error()
	}
	return status
}

// visitRulesFor calls visit with each rule granted to user in namespace,
// ClusterRoleBindings first, then the RoleBindings of namespace, and with
// each error met; rule is nil with an error. visit returning false stops
// the walk. This is Kubernetes' DefaultRuleResolver.VisitRulesFor.
func (a *Authorizer) visitRulesFor(user *authn.User, namespace string, visit func(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool) {
	if user == nil {
		return
	}
	crbs, err := a.lister.ListClusterRoleBindings()
	if err != nil {
		if !visit(nil, nil, err) {
			return
		}
	}
	for _, b := range crbs {
		i, ok := appliesTo(user, b.Subjects, "")
		if !ok {
			continue
		}
		rules, err := a.roleRefRules(b.RoleRef, "")
		if err != nil {
			if !visit(nil, nil, err) {
				return
			}
			continue
		}
		source := bindingSource{kind: "ClusterRoleBinding", name: b.Name, ref: b.RoleRef, subject: &b.Subjects[i]}
		for j := range rules {
			if !visit(source, &rules[j], nil) {
				return
			}
		}
	}

	if namespace == "" {
		return
	}
	rbs, err := a.lister.ListRoleBindings(namespace)
	if err != nil {
		if !visit(nil, nil, err) {
			return
		}
	}
	for _, b := range rbs {
		i, ok := appliesTo(user, b.Subjects, namespace)
		if !ok {
			continue
		}
		rules, err := a.roleRefRules(b.RoleRef, namespace)
		if err != nil {
			if !visit(nil, nil, err) {
				return
			}
			continue
		}
		source := bindingSource{kind: "RoleBinding", name: b.Name + "/" + b.Namespace, ref: b.RoleRef, subject: &b.Subjects[i], namespace: namespace}
		for j := range rules {
			if !visit(source, &rules[j], nil) {
				return
			}
		}
	}
}

// roleRefRules returns the rules of the role a binding in namespace ("" for
// a ClusterRoleBinding) refers to.
func (a *Authorizer) roleRefRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		r, err := a.lister.GetRole(namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		return r.Rules, nil
	case "ClusterRole":
		r, err := a.lister.GetClusterRole(ref.Name)
		if err != nil {
			return nil, err
		}
		return r.Rules, nil
	default:
		return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
	}
}

// appliesTo returns the index of the first subject that is user.
// namespace is the binding's, which a ServiceAccount subject without one
// is taken to be in.
func appliesTo(user *authn.User, subjects []rbacv1.Subject, namespace string) (int, bool) {
	for i, s := range subjects {
		if subjectIsUser(user, s, namespace) {
			return i, true
		}
	}
	return 0, false
}

func subjectIsUser(user *authn.User, s rbacv1.Subject, namespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return user.Name == s.Name
	case rbacv1.GroupKind:
		return user.InGroup(s.Name)
	case rbacv1.ServiceAccountKind:
		ns := namespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		if ns == "" {
			return false
		}
		return user.Name == authn.ServiceAccountUsername(ns, s.Name)
	default:
		return false
	}
}

// bindingSource names the binding that granted a rule, as upstream's
// describers: `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`,
// `RoleBinding "x/ns" of Role "y" to ServiceAccount "sa/ns"`. It is a
// Stringer so that the text is built only for the rule that allows.
type bindingSource struct {
	kind, name string
	ref        rbacv1.RoleRef
	subject    *rbacv1.Subject
	// namespace is a RoleBinding's, for its ServiceAccount subjects
	// without one.
	namespace string
}

func (b bindingSource) String() string {
	return fmt.Sprintf("%s %q of %s %q to %s", b.kind, b.name, b.ref.Kind, b.ref.Name, describeSubject(b.subject, b.namespace))
}

func describeSubject(s *rbacv1.Subject, namespace string) string {
	if s.Kind != rbacv1.ServiceAccountKind {
		return fmt.Sprintf("%s %q", s.Kind, s.Name)
	}
	ns := s.Namespace
	if ns == "" {
		ns = namespace
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
}
