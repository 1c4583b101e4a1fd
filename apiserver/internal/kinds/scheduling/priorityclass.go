package scheduling

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// priorityClassStrategy defaults and validates PriorityClasses as
// Kubernetes' scheduling.k8s.io/v1 API and pkg/apis/scheduling/validation
// do.
type priorityClassStrategy struct{ apiresource.DefaultStrategy }

const (
	// highestUserPriority is the highest value a class not
	// reserved for the system may have: the system classes above it keep
	// critical pods from being preempted by user workloads.
	highestUserPriority = 1_000_000_000
	// systemCriticalPriority is the value of system-cluster-critical.
	systemCriticalPriority = 2 * highestUserPriority
	// systemPrefix marks the names reserved for system classes.
	systemPrefix = "system-"
)

// systemClasses are the classes Kubernetes creates at startup, the only
// ones whose names may start with systemPrefix.
var systemClasses = map[string]int32{
	"system-node-critical":    systemCriticalPriority + 1000,
	"system-cluster-critical": systemCriticalPriority,
}

func (priorityClassStrategy) Default(obj runtime.Object) {
	pc := obj.(*schedulingv1.PriorityClass)
	if pc.PreemptionPolicy == nil {
		pc.PreemptionPolicy = ptr.To(corev1.PreemptLowerPriority)
	}
}

func (priorityClassStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validatePriorityClass(obj.(*schedulingv1.PriorityClass))
}

// ValidateUpdate keeps value and preemptionPolicy: pods copy them from
// their class when created, so a change would leave running pods behind.
func (priorityClassStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pc, was := obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
	errs := validatePriorityClass(pc)
	if pc.Value != was.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	return append(errs, apivalidation.ValidateImmutableField(pc.PreemptionPolicy, was.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, systemPrefix) {
		if err := checkSystemClass(pc); err != "" {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+systemPrefix+"' prefix are reserved for system use only. error: "+err))
		}
	} else if pc.Value > highestUserPriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %d", highestUserPriority)))
	}
	if p := pc.PreemptionPolicy; p != nil {
		path := field.NewPath("preemptionPolicy")
		switch *p {
		case corev1.PreemptLowerPriority, corev1.PreemptNever:
		case "":
			errs = append(errs, field.Required(path, ""))
		default:
			errs = append(errs, field.NotSupported(path, *p, []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}))
		}
	}
	return errs
}

// checkSystemClass says why pc is not one of the system classes as
// Kubernetes defines them, or "" when it is.
func checkSystemClass(pc *schedulingv1.PriorityClass) string {
	value, ok := systemClasses[pc.Name]
	switch {
	case !ok:
		return fmt.Sprintf("%v is not a known system priority class", pc.Name)
	case pc.Value != value:
		return fmt.Sprintf("value of %v PriorityClass must be %v", pc.Name, value)
	case pc.GlobalDefault:
		return fmt.Sprintf("globalDefault of %v PriorityClass must be false", pc.Name)
	}
	return ""
}
