package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// roleStrategy is Kubernetes' Role strategy (pkg/registry/rbac/role) and
// validation (pkg/apis/rbac/validation). A PUT may create a role, as
// upstream allows, so that `kubectl auth reconcile` and bootstrapping
// clients can write one whether or not it exists.
type roleStrategy struct{ apiresource.DefaultStrategy }

func (roleStrategy) AllowCreateOnUpdate() bool { return true }

func (roleStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateRules(obj.(*rbacv1.Role).Rules, true)
}

func (roleStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateRules(obj.(*rbacv1.Role).Rules, true)
}

// clusterRoleStrategy is Kubernetes' ClusterRole strategy: rules may name
// non-resource URLs, and an aggregationRule gathers the rules of the
// ClusterRoles its selectors match (the controller-manager writes them).
type clusterRoleStrategy struct{ apiresource.DefaultStrategy }

func (clusterRoleStrategy) AllowCreateOnUpdate() bool { return true }

func (clusterRoleStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateClusterRole(obj.(*rbacv1.ClusterRole), false)
}

// ValidateUpdate passes the stored role's faults through as upstream
// does: when its selectors already hold invalid label values, the values'
// own errors are not reported again (the selector must still parse).
func (clusterRoleStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return validateClusterRole(obj.(*rbacv1.ClusterRole), hasInvalidSelectorLabelValue(old.(*rbacv1.ClusterRole)))
}

var rulesPath = field.NewPath("rules")

func validateClusterRole(r *rbacv1.ClusterRole, allowInvalidLabelValue bool) field.ErrorList {
	errs := validateRules(r.Rules, false)
	if r.AggregationRule == nil {
		return errs
	}
	selectors := field.NewPath("aggregationRule", "clusterRoleSelectors")
	if len(r.AggregationRule.ClusterRoleSelectors) == 0 {
		errs = append(errs, field.Required(selectors, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: allowInvalidLabelValue}
	for i := range r.AggregationRule.ClusterRoleSelectors {
		s := &r.AggregationRule.ClusterRoleSelectors[i]
		errs = append(errs, metav1validation.ValidateLabelSelector(s, opts, selectors.Index(i))...)
		if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
			errs = append(errs, field.Invalid(selectors.Index(i), s, "invalid label selector."))
		}
	}
	return errs
}

func hasInvalidSelectorLabelValue(r *rbacv1.ClusterRole) bool {
	if r.AggregationRule == nil {
		return false
	}
	for i := range r.AggregationRule.ClusterRoleSelectors {
		if len(metav1validation.ValidateLabelSelector(&r.AggregationRule.ClusterRoleSelectors[i], metav1validation.LabelSelectorValidationOptions{}, nil)) > 0 {
			return true
		}
	}
	return false
}

func validateRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		errs = append(errs, validatePolicyRule(r, namespaced, rulesPath.Index(i))...)
	}
	return errs
}

// validatePolicyRule is Kubernetes' ValidatePolicyRule: every rule needs
// verbs; a rule is either about non-resource URLs (in ClusterRoles only,
// since paths have no namespace) or about resources, which then needs
// both API groups and resources.
func validatePolicyRule(r rbacv1.PolicyRule, namespaced bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Verbs) == 0 {
		errs = append(errs, field.Required(path.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(r.NonResourceURLs) > 0 {
		if namespaced {
			errs = append(errs, field.Invalid(path.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(path.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(r.APIGroups) == 0 {
		errs = append(errs, field.Required(path.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(r.Resources) == 0 {
		errs = append(errs, field.Required(path.Child("resources"), "resource rules must supply at least one resource"))
	}
	return errs
}
