package server

import (
	"context"
	"errors"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/rbac"
)

// reconcileRBAC makes Kubernetes' bootstrap policy, and the bindings
// kubeadm adds for joining nodes, exist, as kube-apiserver's
// rbac/bootstrap-roles post-start hook: what is missing is created; what
// is there gains the rules and subjects it lacks, unless its autoupdate
// annotation is "false"; nothing a user added is removed.
func (s *Server) reconcileRBAC(ctx context.Context) error {
	if s.rbac == nil {
		return nil
	}
	// The apiserver writes as itself, a member of system:masters, past
	// the escalation check.
	ctx = authn.WithUser(ctx, &authn.User{Name: "system:apiserver", Groups: []string{"system:masters", authn.AllAuthenticated}})
	var errs []error
	for _, p := range []rbac.Policy{rbac.Bootstrap(), rbac.ClusterSetup()} {
		for i := range p.ClusterRoles {
			errs = append(errs, reconcileOne(ctx, s.store(rbacv1.GroupName, "clusterroles"), &p.ClusterRoles[i], "", p.ClusterRoles[i].Name,
				func(cur, want runtime.Object) (runtime.Object, bool) {
					return rbac.ReconcileClusterRole(cur.(*rbacv1.ClusterRole), want.(*rbacv1.ClusterRole))
				}))
		}
		for i := range p.ClusterRoleBindings {
			errs = append(errs, reconcileOne(ctx, s.store(rbacv1.GroupName, "clusterrolebindings"), &p.ClusterRoleBindings[i], "", p.ClusterRoleBindings[i].Name,
				func(cur, want runtime.Object) (runtime.Object, bool) {
					return rbac.ReconcileClusterRoleBinding(cur.(*rbacv1.ClusterRoleBinding), want.(*rbacv1.ClusterRoleBinding))
				}))
		}
		for i := range p.Roles {
			errs = append(errs, reconcileOne(ctx, s.store(rbacv1.GroupName, "roles"), &p.Roles[i], p.Roles[i].Namespace, p.Roles[i].Name,
				func(cur, want runtime.Object) (runtime.Object, bool) {
					return rbac.ReconcileRole(cur.(*rbacv1.Role), want.(*rbacv1.Role))
				}))
		}
		for i := range p.RoleBindings {
			errs = append(errs, reconcileOne(ctx, s.store(rbacv1.GroupName, "rolebindings"), &p.RoleBindings[i], p.RoleBindings[i].Namespace, p.RoleBindings[i].Name,
				func(cur, want runtime.Object) (runtime.Object, bool) {
					return rbac.ReconcileRoleBinding(cur.(*rbacv1.RoleBinding), want.(*rbacv1.RoleBinding))
				}))
		}
	}
	return errors.Join(errs...)
}

// reconcileOne creates want in st, or updates the stored object with what
// merge says it lacks.
func reconcileOne(ctx context.Context, st *genericstore.Store, want runtime.Object, ns, name string, merge func(cur, want runtime.Object) (runtime.Object, bool)) error {
	_, err := st.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		_, err = st.Create(ctx, ns, want.DeepCopyObject(), genericstore.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", st.Descriptor(), name, err)
	}
	var recreate runtime.Object
	_, err = st.Update(ctx, ns, name, func(cur runtime.Object) (runtime.Object, error) {
		merged, changed := merge(cur, want)
		if !changed {
			return cur, nil
		}
		if roleRefOf(merged) != roleRefOf(cur) {
			// A binding's roleRef is immutable: reconciliation replaces
			// the binding, as upstream's.
			recreate = merged
			return cur, nil
		}
		return merged, nil
	}, genericstore.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("%s %s: %w", st.Descriptor(), name, err)
	}
	if recreate != nil {
		if _, err := st.Delete(ctx, ns, name, &metav1.DeleteOptions{}, false); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s %s: %w", st.Descriptor(), name, err)
		}
		fresh := recreate.DeepCopyObject()
		if m, err := meta.Accessor(fresh); err == nil {
			m.SetResourceVersion("")
			m.SetUID("")
		}
		if _, err := st.Create(ctx, ns, fresh, genericstore.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s %s: %w", st.Descriptor(), name, err)
		}
	}
	return nil
}

// roleRefOf is a binding's roleRef; the zero RoleRef for roles.
func roleRefOf(obj runtime.Object) rbacv1.RoleRef {
	switch b := obj.(type) {
	case *rbacv1.RoleBinding:
		return b.RoleRef
	case *rbacv1.ClusterRoleBinding:
		return b.RoleRef
	}
	return rbacv1.RoleRef{}
}
