package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/auth/rbac/validation"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// EscalationCheck keeps users from gaining permissions through RBAC
// writes, as Kubernetes' policy-based storage of the four RBAC kinds: a
// Role or ClusterRole may grant only what its writer already holds, and a
// binding may grant only a role whose every rule its writer holds, unless
// the writer is explicitly allowed to "escalate" that role or to "bind"
// it. It is an admitter of the stores of roles, clusterroles,
// rolebindings and clusterrolebindings; objects of other kinds pass.
type EscalationCheck struct {
	// Authorizer is the apiserver's whole chain, asked whether the writer
	// may escalate or bind.
	Authorizer authz.Authorizer
	// Rules tells which rules the writer holds.
	Rules *Authorizer
}

// AdmitCreate checks a new Role, ClusterRole, RoleBinding or
// ClusterRoleBinding.
func (c EscalationCheck) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	return c.admit(ctx, obj, nil)
}

// AdmitUpdate checks a change; one that touches only what the garbage
// collector writes (owner references, finalizers) passes, as upstream.
func (c EscalationCheck) AdmitUpdate(ctx context.Context, _ string, obj, old runtime.Object) error {
	if onlyGCFieldsChange(obj, old) {
		return nil
	}
	return c.admit(ctx, obj, old)
}

// fullAuthority is cluster-admin's rules: what a ClusterRole with an
// aggregationRule may gather.
var fullAuthority = []rbacv1.PolicyRule{
	newRule("*").groups("*").resources("*").rule(),
	newRule("*").urls("*").rule(),
}

// admit judges obj; old is nil on create. Members of system:masters pass
// whatever they write, as upstream's EscalationAllowed.
func (c EscalationCheck) admit(ctx context.Context, obj, old runtime.Object) error {
	user, _ := authn.UserFrom(ctx)
	if user != nil && user.InGroup(authz.SystemPrivilegedGroup) {
		return nil
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		if c.mayEscalate(ctx, user, "roles", o.Namespace, o.Name, old == nil) {
			return nil
		}
		if err := c.confirmNoEscalation(user, o.Namespace, o.Rules); err != nil {
			return forbidden("roles", o.Name, err)
		}
	case *rbacv1.ClusterRole:
		if c.mayEscalate(ctx, user, "clusterroles", "", o.Name, old == nil) {
			return nil
		}
		if err := c.confirmNoEscalation(user, "", o.Rules); err != nil {
			return forbidden("clusterroles", o.Name, err)
		}
		// An aggregationRule gathers whatever roles match it, so setting,
		// changing or dropping one takes cluster-admin's power.
		was, _ := old.(*rbacv1.ClusterRole)
		if aggregates(o) || (was != nil && aggregates(was)) {
			if c.confirmNoEscalation(user, "", fullAuthority) != nil {
				return forbidden("clusterroles", o.Name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
			}
		}
	case *rbacv1.RoleBinding:
		return c.admitBinding(ctx, user, "rolebindings", o.Name, o.Namespace, o.RoleRef, "Role", "ClusterRole")
	case *rbacv1.ClusterRoleBinding:
		return c.admitBinding(ctx, user, "clusterrolebindings", o.Name, "", o.RoleRef, "ClusterRole")
	}
	return nil
}

// admitBinding lets a binding through when its writer may bind the role,
// or holds every rule of it. A roleRef of a kind the binding may not
// refer to is left to validation, which refuses it. A role that does not
// exist is an error (NotFound) for a writer who may not bind it, as
// upstream: there is no telling what it will grant.
func (c EscalationCheck) admitBinding(ctx context.Context, user *authn.User, resource, name, namespace string, ref rbacv1.RoleRef, kinds ...string) error {
	roleResource := ""
	for _, k := range kinds {
		if ref.Kind == k {
			roleResource = strings.ToLower(k) + "s"
		}
	}
	if roleResource == "" {
		return nil
	}
	// Bind is asked in the binding's namespace (none for a
	// ClusterRoleBinding), so that it can be delegated per namespace.
	if c.allowed(ctx, authz.Attributes{
		User: user, Verb: "bind", ResourceRequest: true,
		APIGroup: ref.APIGroup, APIVersion: "*", Resource: roleResource, Namespace: namespace, Name: ref.Name,
	}) {
		return nil
	}
	if c.Rules == nil {
		return forbidden(resource, name, errors.New("no RBAC rules to check the binding against"))
	}
	rules, err := c.Rules.roleRefRules(ref, namespace)
	if err != nil {
		return err
	}
	if err := c.confirmNoEscalation(user, namespace, rules); err != nil {
		return forbidden(resource, name, err)
	}
	return nil
}

// mayEscalate asks whether user may "escalate" the role. On create the
// name is not asked about, as upstream takes it from the request's URL,
// which a POST does not name.
func (c EscalationCheck) mayEscalate(ctx context.Context, user *authn.User, resource, namespace, name string, create bool) bool {
	if create {
		name = ""
	}
	return c.allowed(ctx, authz.Attributes{
		User: user, Verb: "escalate", ResourceRequest: true,
		APIGroup: rbacv1.GroupName, APIVersion: "*", Resource: resource, Namespace: namespace, Name: name,
	})
}

func (c EscalationCheck) allowed(ctx context.Context, a authz.Attributes) bool {
	if c.Authorizer == nil || a.User == nil {
		return false
	}
	decision, _, _ := c.Authorizer.Authorize(ctx, a)
	return decision == authz.DecisionAllow
}

// confirmNoEscalation refuses rules that user does not hold in namespace
// ("" for cluster-wide), with Kubernetes' message listing what is
// missing, one compacted rule a line.
func (c EscalationCheck) confirmNoEscalation(user *authn.User, namespace string, rules []rbacv1.PolicyRule) error {
	if user == nil {
		return errors.New("no user on context")
	}
	var (
		owner []rbacv1.PolicyRule
		errs  []error
	)
	if c.Rules != nil {
		owner, errs = c.Rules.RulesFor(user, namespace)
	}
	covered, missing := validation.Covers(owner, rules)
	if covered {
		return nil
	}
	lines := sets.New[string]()
	for _, r := range compactRules(missing) {
		lines.Insert(compactString(r))
	}
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s",
		user.Name, user.Groups, strings.Join(sets.List(lines), "\n"))
	if len(errs) > 0 {
		// Upstream keeps the resolver's aggregate in a list of its own.
		msg += fmt.Sprintf("; resolution errors: %v", []error{utilerrors.NewAggregate(errs)})
	}
	return errors.New(msg)
}

func forbidden(resource, name string, err error) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: resource}, name, err)
}

func aggregates(r *rbacv1.ClusterRole) bool {
	return r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0
}

// onlyGCFieldsChange reports whether obj differs from old only in what
// the garbage collector writes, as upstream's IsOnlyMutatingGCFields: such
// a write grants nothing, and the collector must not be stopped by roles
// it could not have written.
func onlyGCFieldsChange(obj, old runtime.Object) bool {
	if old == nil {
		return false
	}
	copied := obj.DeepCopyObject()
	cm, err := meta.Accessor(copied)
	if err != nil {
		return false
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return false
	}
	cm.SetOwnerReferences(om.GetOwnerReferences())
	cm.SetFinalizers(om.GetFinalizers())
	cm.SetSelfLink(om.GetSelfLink())
	cm.SetManagedFields(om.GetManagedFields())
	return equality.Semantic.DeepEqual(copied, old)
}

// simpleResource keys the rules compactRules merges.
type simpleResource struct {
	group, resource string
	hasName         bool
	name            string
}

// compactRules merges rules that name one group, one resource and at most
// one resource name and differ only in verbs, as upstream's CompactRules
// does to the broken-down rules Covers reports missing, so that the
// message lists "get, list" of pods on one line.
func compactRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, 0, len(rules))
	simple := map[simpleResource]*rbacv1.PolicyRule{}
	var order []simpleResource
	for _, r := range rules {
		key, ok := simpleKey(r)
		if !ok {
			out = append(out, r)
			continue
		}
		if existing, ok := simple[key]; ok {
			existing.Verbs = append(existing.Verbs, r.Verbs...)
			continue
		}
		simple[key] = r.DeepCopy()
		order = append(order, key)
	}
	for _, key := range order {
		out = append(out, *simple[key])
	}
	return out
}

func simpleKey(r rbacv1.PolicyRule) (simpleResource, bool) {
	if len(r.ResourceNames) > 1 || len(r.NonResourceURLs) > 0 || len(r.APIGroups) != 1 || len(r.Resources) != 1 {
		return simpleResource{}, false
	}
	key := simpleResource{group: r.APIGroups[0], resource: r.Resources[0]}
	if len(r.ResourceNames) == 1 {
		key.hasName, key.name = true, r.ResourceNames[0]
	}
	return key, true
}

// compactString prints a rule as upstream's escalation messages do:
// {APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}, naming only
// the fields that are set.
func compactString(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(name string, values []string) {
		if len(values) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", name, values))
		}
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("NonResourceURLs", r.NonResourceURLs)
	add("ResourceNames", r.ResourceNames)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}
