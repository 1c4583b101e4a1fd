// Package rbac defines rbac.authorization.k8s.io/v1 Roles, ClusterRoles,
// RoleBindings and ClusterRoleBindings: the policy the RBAC authorizer
// decides on. What a writer may grant is checked apart from the kinds'
// own rules, by internal/rbac's EscalationCheck in their stores.
package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the rbac.authorization.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{ClusterRoleBindings(), ClusterRoles(), RoleBindings(), Roles()}
}

// Roles: namespaced; kubectl shows them with the default columns (name
// and creation time), as Kubernetes has no printer of its own for them.
func Roles() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(rbacv1.SchemeGroupVersion, "roles", &rbacv1.Role{}, &rbacv1.RoleList{})
	d.Namespaced = true
	d.Strategy = roleStrategy{}
	d.NameValidator = validateName
	return d
}

// ClusterRoles: cluster-scoped, default columns.
func ClusterRoles() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(rbacv1.SchemeGroupVersion, "clusterroles", &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleList{})
	d.Strategy = clusterRoleStrategy{}
	d.NameValidator = validateName
	return d
}

// RoleBindings: namespaced.
func RoleBindings() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(rbacv1.SchemeGroupVersion, "rolebindings", &rbacv1.RoleBinding{}, &rbacv1.RoleBindingList{})
	d.Namespaced = true
	d.Strategy = roleBindingStrategy{}
	d.NameValidator = validateName
	d.Table = printers.RoleBinding()
	return d
}

// ClusterRoleBindings: cluster-scoped.
func ClusterRoleBindings() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(rbacv1.SchemeGroupVersion, "clusterrolebindings", &rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRoleBindingList{})
	d.Strategy = clusterRoleBindingStrategy{}
	d.NameValidator = validateName
	d.Table = printers.ClusterRoleBinding()
	return d
}

// validateName is Kubernetes' ValidateRBACName: roles and bindings are
// named after what they grant ("system:node", "kubeadm:get-nodes"), so a
// name only has to fit in a URL path; a generateName prefix is held to
// the same.
func validateName(name string, _ bool) []string { return content.IsPathSegmentName(name) }
