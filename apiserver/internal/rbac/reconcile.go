package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
)

// The Reconcile functions bring a stored default role or binding up to
// date with the policy at apiserver start, with Kubernetes' semantics
// (k8s.io/component-helpers/auth/rbac/reconciliation, as kube-apiserver's
// rbac/bootstrap-roles post-start hook runs it): missing rules,
// aggregation selectors, subjects, labels and annotations are added;
// nothing a user added is removed, and a label or annotation the user
// changed keeps the user's value. An object annotated
// rbac.authorization.kubernetes.io/autoupdate=false is left alone; one
// without the annotation is reconciled (and gets it).
//
// Each returns what to store and whether that differs from existing; a
// nil existing means the object is missing and desired is to be created.
// The result is a new object: existing and desired are not changed.

// ReconcileClusterRole reconciles a ClusterRole. An aggregated role's
// rules are the aggregation's: they are only ever added to, as upstream.
func ReconcileClusterRole(existing, desired *rbacv1.ClusterRole) (*rbacv1.ClusterRole, bool) {
	if existing == nil {
		return desired.DeepCopy(), true
	}
	out, ok := reconcileRuleOwner(
		reconciliation.ClusterRoleRuleOwner{ClusterRole: existing},
		reconciliation.ClusterRoleRuleOwner{ClusterRole: desired.DeepCopy()})
	if !ok {
		return existing, false
	}
	return out.(*rbacv1.ClusterRole), true
}

// ReconcileRole reconciles a namespaced Role.
func ReconcileRole(existing, desired *rbacv1.Role) (*rbacv1.Role, bool) {
	if existing == nil {
		return desired.DeepCopy(), true
	}
	out, ok := reconcileRuleOwner(
		reconciliation.RoleRuleOwner{Role: existing},
		reconciliation.RoleRuleOwner{Role: desired.DeepCopy()})
	if !ok {
		return existing, false
	}
	return out.(*rbacv1.Role), true
}

// ReconcileClusterRoleBinding reconciles a ClusterRoleBinding. When the
// stored binding refers to another role, the result is desired itself,
// whose roleRef differs from existing's: roleRef is immutable, so the
// caller must delete existing (with a precondition on its UID) and
// create the result, as upstream recreates it.
func ReconcileClusterRoleBinding(existing, desired *rbacv1.ClusterRoleBinding) (*rbacv1.ClusterRoleBinding, bool) {
	if existing == nil {
		return desired.DeepCopy(), true
	}
	out, ok := reconcileBinding(
		reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: existing},
		reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: desired.DeepCopy()})
	if !ok {
		return existing, false
	}
	return out.(*rbacv1.ClusterRoleBinding), true
}

// ReconcileRoleBinding reconciles a namespaced RoleBinding; a changed
// roleRef is handled as in ReconcileClusterRoleBinding.
func ReconcileRoleBinding(existing, desired *rbacv1.RoleBinding) (*rbacv1.RoleBinding, bool) {
	if existing == nil {
		return desired.DeepCopy(), true
	}
	out, ok := reconcileBinding(
		reconciliation.RoleBindingAdapter{RoleBinding: existing},
		reconciliation.RoleBindingAdapter{RoleBinding: desired.DeepCopy()})
	if !ok {
		return existing, false
	}
	return out.(*rbacv1.RoleBinding), true
}

// reconcileRuleOwner runs upstream's reconciliation as a dry run against
// existing, which is all the stored state it needs.
func reconcileRuleOwner(existing, desired reconciliation.RuleOwner) (any, bool) {
	opts := reconciliation.ReconcileRoleOptions{Role: desired, Client: storedRuleOwner{existing}}
	res, err := opts.Run()
	if err != nil || res.Protected || res.Operation != reconciliation.ReconcileUpdate {
		return nil, false
	}
	return res.Role.GetObject(), true
}

func reconcileBinding(existing, desired reconciliation.RoleBinding) (any, bool) {
	opts := reconciliation.ReconcileRoleBindingOptions{RoleBinding: desired, Client: storedBinding{existing}}
	res, err := opts.Run()
	if err != nil || res.Protected {
		return nil, false
	}
	switch res.Operation {
	case reconciliation.ReconcileUpdate, reconciliation.ReconcileRecreate:
		return res.RoleBinding.GetObject(), true
	}
	return nil, false
}

// storedRuleOwner and storedBinding answer the reconciliation's read of
// the stored object. A dry run (Confirm false) never writes, so their
// writes are never called; they answer with what they were given.
type storedRuleOwner struct{ reconciliation.RuleOwner }

func (s storedRuleOwner) Get(_, _ string) (reconciliation.RuleOwner, error) { return s.RuleOwner, nil }
func (s storedRuleOwner) Create(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	return in, nil
}
func (s storedRuleOwner) Update(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	return in, nil
}

type storedBinding struct{ reconciliation.RoleBinding }

func (s storedBinding) Get(_, _ string) (reconciliation.RoleBinding, error) {
	return s.RoleBinding, nil
}
func (s storedBinding) Create(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	return in, nil
}
func (s storedBinding) Update(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	return in, nil
}
func (s storedBinding) Delete(_, _ string, _ types.UID) error { return nil }
