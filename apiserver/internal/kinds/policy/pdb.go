package policy

import (
	"strconv"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// pdbStrategy is Kubernetes' PodDisruptionBudget strategy
// (pkg/registry/policy/poddisruptionbudget) and validation
// (pkg/apis/policy/validation). policy/v1 defaults nothing: a budget
// without minAvailable or maxUnavailable is valid and allows no
// disruption until its controller computes otherwise, and a nil selector
// matches no pod while an empty one matches every pod of the namespace.
type pdbStrategy struct{ apiresource.DefaultStrategy }

// unhealthyPodEvictionPolicies are the policies Kubernetes knows, sorted
// as its error message lists them.
var unhealthyPodEvictionPolicies = []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}

// PrepareForCreate: the status is the controller's to write.
func (pdbStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
}

func (pdbStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateSpec(&obj.(*policyv1.PodDisruptionBudget).Spec, false)
}

// ValidateUpdate tolerates a selector label value that is invalid only if
// the stored budget already had one, as Kubernetes does for budgets
// written before it checked them.
func (pdbStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	was := old.(*policyv1.PodDisruptionBudget)
	return validateSpec(&obj.(*policyv1.PodDisruptionBudget).Spec, hasInvalidLabelValue(was))
}

// ValidateStatusUpdate checks what the controller and the eviction
// handler write: well-formed conditions and no negative counts.
func (pdbStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	st := &obj.(*policyv1.PodDisruptionBudget).Status
	path := field.NewPath("status")
	errs := metav1validation.ValidateConditions(st.Conditions, path.Child("conditions"))
	for _, c := range []struct {
		name  string
		value int32
	}{
		{"disruptionsAllowed", st.DisruptionsAllowed},
		{"currentHealthy", st.CurrentHealthy},
		{"desiredHealthy", st.DesiredHealthy},
		{"expectedPods", st.ExpectedPods},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(c.value), path.Child(c.name))...)
	}
	return errs
}

func validateSpec(spec *policyv1.PodDisruptionBudgetSpec, allowInvalidLabelValue bool) field.ErrorList {
	path := field.NewPath("spec")
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if v := spec.MinAvailable; v != nil {
		errs = append(errs, validateIntOrPercent(*v, path.Child("minAvailable"))...)
	}
	if v := spec.MaxUnavailable; v != nil {
		errs = append(errs, validateIntOrPercent(*v, path.Child("maxUnavailable"))...)
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector,
		metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: allowInvalidLabelValue}, path.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.IfHealthyBudget && *p != policyv1.AlwaysAllow {
		errs = append(errs, field.NotSupported(path.Child("unhealthyPodEvictionPolicy"), *p, unhealthyPodEvictionPolicies))
	}
	return errs
}

// validateIntOrPercent accepts a non-negative integer or a percentage
// up to "100%", as Kubernetes' ValidatePositiveIntOrPercent and
// IsNotMoreThan100Percent.
func validateIntOrPercent(v intstr.IntOrString, path *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(path, v, msg))
		}
		if len(errs) > 0 {
			return errs
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%")); err == nil && n > 100 {
			return field.ErrorList{field.Invalid(path, v, "must not be greater than 100%")}
		}
		return nil
	case intstr.Int:
		return apivalidation.ValidateNonnegativeField(int64(v.IntValue()), path)
	default:
		return field.ErrorList{field.Invalid(path, v, "must be an integer or percentage (e.g '5%')")}
	}
}

func hasInvalidLabelValue(pdb *policyv1.PodDisruptionBudget) bool {
	return pdb.Spec.Selector != nil &&
		len(metav1validation.ValidateLabelSelector(pdb.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, nil)) > 0
}
