package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// roleBindingStrategy is Kubernetes' RoleBinding strategy and validation:
// a RoleBinding grants a Role of its namespace, or a ClusterRole's rules
// within its namespace, to users, groups and service accounts. Its
// roleRef never changes: granting another role is a new binding, so that
// a writer allowed to bind one role cannot turn a binding into another.
type roleBindingStrategy struct{ apiresource.DefaultStrategy }

func (roleBindingStrategy) AllowCreateOnUpdate() bool { return true }

func (roleBindingStrategy) Default(obj runtime.Object) {
	b := obj.(*rbacv1.RoleBinding)
	defaultBinding(&b.RoleRef, b.Subjects)
}

func (roleBindingStrategy) Validate(obj runtime.Object) field.ErrorList {
	b := obj.(*rbacv1.RoleBinding)
	return validateBinding(b.RoleRef, b.Subjects, true)
}

func (roleBindingStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	b, was := obj.(*rbacv1.RoleBinding), old.(*rbacv1.RoleBinding)
	return append(validateBinding(b.RoleRef, b.Subjects, true), validateRoleRefUnchanged(b.RoleRef, was.RoleRef)...)
}

// clusterRoleBindingStrategy: a ClusterRoleBinding grants a ClusterRole
// in every namespace; its service account subjects must name theirs.
type clusterRoleBindingStrategy struct{ apiresource.DefaultStrategy }

func (clusterRoleBindingStrategy) AllowCreateOnUpdate() bool { return true }

func (clusterRoleBindingStrategy) Default(obj runtime.Object) {
	b := obj.(*rbacv1.ClusterRoleBinding)
	defaultBinding(&b.RoleRef, b.Subjects)
}

func (clusterRoleBindingStrategy) Validate(obj runtime.Object) field.ErrorList {
	b := obj.(*rbacv1.ClusterRoleBinding)
	return validateBinding(b.RoleRef, b.Subjects, false)
}

func (clusterRoleBindingStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	b, was := obj.(*rbacv1.ClusterRoleBinding), old.(*rbacv1.ClusterRoleBinding)
	return append(validateBinding(b.RoleRef, b.Subjects, false), validateRoleRefUnchanged(b.RoleRef, was.RoleRef)...)
}

// defaultBinding is Kubernetes' v1 defaulting: the roleRef's group is
// RBAC's, and so is a User's or Group's subject group; a ServiceAccount's
// is the core group, "".
func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

var roleRefPath = field.NewPath("roleRef")

// validateBinding is Kubernetes' ValidateRoleBinding and
// ValidateClusterRoleBinding less the metadata, which the store checks.
func validateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(roleRefPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	known := false
	for _, k := range kinds {
		known = known || ref.Kind == k
	}
	if !known {
		errs = append(errs, field.NotSupported(roleRefPath.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(roleRefPath.Child("name"), ""))
	} else {
		for _, msg := range validateName(ref.Name, false) {
			errs = append(errs, field.Invalid(roleRefPath.Child("name"), ref.Name, msg))
		}
	}
	subjectsPath := field.NewPath("subjects")
	for i, s := range subjects {
		errs = append(errs, validateSubject(s, namespaced, subjectsPath.Index(i))...)
	}
	return errs
}

// validateSubject is Kubernetes' ValidateRoleBindingSubject. A
// ServiceAccount in a RoleBinding may leave out its namespace, which is
// then the binding's; in a ClusterRoleBinding there is none to take.
func validateSubject(s rbacv1.Subject, namespaced bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(s.Name, false) {
				errs = append(errs, field.Invalid(path.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(path.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(path.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(path.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}

// validateRoleRefUnchanged refuses a new roleRef with Kubernetes' v1.37
// message, "field is immutable".
func validateRoleRefUnchanged(ref, old rbacv1.RoleRef) field.ErrorList {
	if equality.Semantic.DeepEqual(ref, old) {
		return nil
	}
	return field.ErrorList{field.Invalid(roleRefPath, ref, apimachineryvalidation.FieldImmutableErrorMsg)}
}
