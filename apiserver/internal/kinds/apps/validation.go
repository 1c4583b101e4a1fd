package apps

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/core"
)

// Validation follows Kubernetes' pkg/apis/apps/validation, with the same
// field paths and, where users read them, the same messages.

var (
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
)

func nonNegative(v int64, path *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, path)
}

func nonNegativePtr(v *int32, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return nonNegative(int64(*v), path)
}

// validateSelector checks a required, non-empty selector and returns it
// parsed; a nil selector parses to one that matches nothing.
func validateSelector(sel *metav1.LabelSelector, path *field.Path, kind string) (labels.Selector, field.ErrorList) {
	var errs field.ErrorList
	if sel == nil {
		errs = append(errs, field.Required(path, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(path, sel, "empty selector is invalid for "+kind))
		}
	}
	parsed, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, append(errs, field.Invalid(path, sel, "invalid label selector"))
	}
	return parsed, errs
}

// validatePositiveIntOrPercent accepts a non-negative integer or a
// percentage string such as "25%".
func validatePositiveIntOrPercent(v intstr.IntOrString, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(path, v, msg))
		}
	case intstr.Int:
		errs = append(errs, nonNegative(int64(v.IntValue()), path)...)
	default:
		errs = append(errs, field.Invalid(path, v, "must be an integer or percentage (e.g '5%')"))
	}
	return errs
}

// percent returns the value of a valid percentage string.
func percent(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, err == nil
}

// intOrPercent is the number in v, percent or not: "0%" and 0 are both zero.
func intOrPercent(v intstr.IntOrString) int {
	if n, ok := percent(v); ok {
		return n
	}
	return v.IntValue()
}

func notOver100Percent(v intstr.IntOrString, path *field.Path) field.ErrorList {
	if n, ok := percent(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(path, v, "must not be greater than 100%")}
	}
	return nil
}

func deref(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.IntOrString{}
	}
	return *v
}

// rollingUpdateBounds returns a rolling update's maxUnavailable and
// maxSurge (unset reads as 0) and checks that each is a non-negative
// integer or percentage; how the two may combine is the kind's own rule.
func rollingUpdateBounds(maxUnavailable, maxSurge *intstr.IntOrString, path *field.Path) (unavailable, surge intstr.IntOrString, errs field.ErrorList) {
	unavailable, surge = deref(maxUnavailable), deref(maxSurge)
	errs = append(errs, validatePositiveIntOrPercent(unavailable, path.Child("maxUnavailable"))...)
	errs = append(errs, validatePositiveIntOrPercent(surge, path.Child("maxSurge"))...)
	return unavailable, surge, errs
}

// collisionCountDecremented refuses a status write that lowers
// status.collisionCount: controllers use it to name revisions uniquely.
func collisionCountDecremented(now, was *int32) field.ErrorList {
	if was == nil || (now != nil && *now >= *was) {
		return nil
	}
	var v int32
	if now != nil {
		v = *now
	}
	return field.ErrorList{field.Invalid(statusPath.Child("collisionCount"), v, "cannot be decremented")}
}

func notAbove(v, limit int32, path *field.Path, limitName string) field.ErrorList {
	if v > limit {
		return field.ErrorList{field.Invalid(path, v, "cannot be greater than "+limitName)}
	}
	return nil
}

func immutable(now, was interface{}, path *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(now, was, path)
}

// Deployments.

func validateDeploymentSpec(spec *appsv1.DeploymentSpec) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegativePtr(spec.Replicas, specPath.Child("replicas"))...)
	sel, selErrs := validateSelector(spec.Selector, specPath.Child("selector"), "deployment")
	errs = append(errs, selErrs...)
	errs = append(errs, core.ValidateReplicatedTemplate(&spec.Template, sel, specPath.Child("template"), "ReplicaSet")...)
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, specPath.Child("strategy"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	if p := spec.ProgressDeadlineSeconds; p != nil {
		path := specPath.Child("progressDeadlineSeconds")
		errs = append(errs, nonNegative(int64(*p), path)...)
		if *p <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(path, *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, path *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(path.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
		return nil
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(path.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return validateRollingUpdateDeployment(s.RollingUpdate, path.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(path, s.Type, []appsv1.DeploymentStrategyType{
			appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
}

func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, path *field.Path) field.ErrorList {
	unavailable, surge, errs := rollingUpdateBounds(ru.MaxUnavailable, ru.MaxSurge, path)
	if intOrPercent(unavailable) == 0 && intOrPercent(surge) == 0 {
		// Neither an old pod could go nor a new one come: the rollout
		// could never make progress.
		errs = append(errs, field.Invalid(path.Child("maxUnavailable"), unavailable, "may not be 0 when `maxSurge` is 0"))
	}
	errs = append(errs, notOver100Percent(unavailable, path.Child("maxUnavailable"))...)
	return errs
}

func validateDeploymentStatus(st *appsv1.DeploymentStatus) field.ErrorList {
	p := statusPath
	var errs field.ErrorList
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonNegative(int64(st.Replicas), p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(st.UpdatedReplicas), p.Child("updatedReplicas"))...)
	errs = append(errs, nonNegative(int64(st.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, nonNegative(int64(st.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, nonNegative(int64(st.UnavailableReplicas), p.Child("unavailableReplicas"))...)
	errs = append(errs, nonNegativePtr(st.CollisionCount, p.Child("collisionCount"))...)
	errs = append(errs, notAbove(st.UpdatedReplicas, st.Replicas, p.Child("updatedReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.ReadyReplicas, st.Replicas, p.Child("readyReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.AvailableReplicas, st.Replicas, p.Child("availableReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.AvailableReplicas, st.ReadyReplicas, p.Child("availableReplicas"), "readyReplicas")...)
	return errs
}

// ReplicaSets.

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegativePtr(spec.Replicas, specPath.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	sel, selErrs := validateSelector(spec.Selector, specPath.Child("selector"), "replicaset")
	errs = append(errs, selErrs...)
	errs = append(errs, core.ValidateReplicatedTemplate(&spec.Template, sel, specPath.Child("template"), "ReplicaSet")...)
	return errs
}

func validateReplicaSetStatus(st *appsv1.ReplicaSetStatus) field.ErrorList {
	p := statusPath
	var errs field.ErrorList
	errs = append(errs, nonNegative(int64(st.Replicas), p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(st.FullyLabeledReplicas), p.Child("fullyLabeledReplicas"))...)
	errs = append(errs, nonNegative(int64(st.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, nonNegative(int64(st.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, notAbove(st.FullyLabeledReplicas, st.Replicas, p.Child("fullyLabeledReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.ReadyReplicas, st.Replicas, p.Child("readyReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.AvailableReplicas, st.Replicas, p.Child("availableReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.AvailableReplicas, st.ReadyReplicas, p.Child("availableReplicas"), "readyReplicas")...)
	return errs
}

// DaemonSets.

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec) field.ErrorList {
	var errs field.ErrorList
	selPath := specPath.Child("selector")
	errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, selPath)...)
	// Unlike the other kinds Kubernetes checks a DaemonSet's selector only
	// by matching it: a missing one matches nothing and fails below.
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(specPath.Child("template", "metadata", "labels"), spec.Template.Labels, core.SelectorMismatch))
	}
	if s := spec.Selector; s != nil && len(s.MatchLabels)+len(s.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(selPath, s, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, core.ValidatePodTemplateSpec(&spec.Template, specPath.Child("template"))...)
	errs = append(errs, core.ValidateAlwaysRestarts(&spec.Template, specPath.Child("template"), "DaemonSet")...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, specPath.Child("updateStrategy"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	return errs
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, path *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(path.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdateDaemonSet(s.RollingUpdate, path.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(path, s.Type, []appsv1.DaemonSetUpdateStrategyType{
			appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType})}
	}
}

func validateRollingUpdateDaemonSet(ru *appsv1.RollingUpdateDaemonSet, path *field.Path) field.ErrorList {
	unavailable, surge, errs := rollingUpdateBounds(ru.MaxUnavailable, ru.MaxSurge, path)
	errs = append(errs, notOver100Percent(unavailable, path.Child("maxUnavailable"))...)
	errs = append(errs, notOver100Percent(surge, path.Child("maxSurge"))...)
	// A node runs one pod of the set: a rollout either stops the old pod
	// first or starts the new one first, never both at once.
	hasUnavailable, hasSurge := intOrPercent(unavailable) != 0, intOrPercent(surge) != 0
	switch {
	case hasUnavailable && hasSurge:
		errs = append(errs, field.Invalid(path.Child("maxSurge"), surge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		errs = append(errs, field.Required(path.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

func validateDaemonSetStatus(st *appsv1.DaemonSetStatus) field.ErrorList {
	p := statusPath
	var errs field.ErrorList
	errs = append(errs, nonNegative(int64(st.CurrentNumberScheduled), p.Child("currentNumberScheduled"))...)
	errs = append(errs, nonNegative(int64(st.NumberMisscheduled), p.Child("numberMisscheduled"))...)
	errs = append(errs, nonNegative(int64(st.DesiredNumberScheduled), p.Child("desiredNumberScheduled"))...)
	errs = append(errs, nonNegative(int64(st.NumberReady), p.Child("numberReady"))...)
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonNegative(int64(st.UpdatedNumberScheduled), p.Child("updatedNumberScheduled"))...)
	errs = append(errs, nonNegative(int64(st.NumberAvailable), p.Child("numberAvailable"))...)
	errs = append(errs, nonNegative(int64(st.NumberUnavailable), p.Child("numberUnavailable"))...)
	errs = append(errs, nonNegativePtr(st.CollisionCount, p.Child("collisionCount"))...)
	return errs
}

// StatefulSets.

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	case "":
		errs = append(errs, field.Required(specPath.Child("podManagementPolicy"), ""))
	default:
		errs = append(errs, field.Invalid(specPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	errs = append(errs, validateStatefulSetUpdateStrategy(&spec.UpdateStrategy, specPath.Child("updateStrategy"))...)
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		path := specPath.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateRetentionPolicyType(p.WhenDeleted, path.Child("whenDeleted"))...)
		errs = append(errs, validateRetentionPolicyType(p.WhenScaled, path.Child("whenScaled"))...)
	}
	errs = append(errs, nonNegativePtr(spec.Replicas, specPath.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonNegative(int64(spec.Ordinals.Start), specPath.Child("ordinals", "start"))...)
	}
	sel, selErrs := validateSelector(spec.Selector, specPath.Child("selector"), "statefulset")
	errs = append(errs, selErrs...)
	tpath := specPath.Child("template")
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(tpath.Child("metadata", "labels"), spec.Template.Labels, core.SelectorMismatch))
	}
	errs = append(errs, core.ValidatePodTemplateSpec(withClaimVolumes(spec), tpath)...)
	errs = append(errs, core.ValidateAlwaysRestarts(&spec.Template, tpath, "StatefulSet")...)
	return errs
}

// withClaimVolumes returns the pod template as the StatefulSet controller
// will stamp it out, with a volume for each claim template. Kubernetes
// skips validating a StatefulSet's pod spec because mounts of claim
// templates name no volume of the template; adding them as the controller
// does lets the template be checked like any other pod.
func withClaimVolumes(spec *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	if len(spec.VolumeClaimTemplates) == 0 {
		return &spec.Template
	}
	t := spec.Template.DeepCopy()
	have := map[string]bool{}
	for _, v := range t.Spec.Volumes {
		have[v.Name] = true
	}
	for _, c := range spec.VolumeClaimTemplates {
		if have[c.Name] {
			continue
		}
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{
			Name: c.Name,
			VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name},
			},
		})
	}
	return t
}

func validateStatefulSetUpdateStrategy(s *appsv1.StatefulSetUpdateStrategy, path *field.Path) field.ErrorList {
	switch s.Type {
	case "":
		return field.ErrorList{field.Required(path, "")}
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Invalid(path.Child("rollingUpdate"), s.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType))}
		}
		return nil
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if s.RollingUpdate == nil {
			return nil
		}
		path := path.Child("rollingUpdate")
		errs := nonNegativePtr(s.RollingUpdate.Partition, path.Child("partition"))
		if mu := s.RollingUpdate.MaxUnavailable; mu != nil {
			errs = append(errs, validatePositiveIntOrPercent(*mu, path.Child("maxUnavailable"))...)
			if intOrPercent(*mu) == 0 {
				errs = append(errs, field.Invalid(path.Child("maxUnavailable"), *mu, "cannot be 0"))
			}
			errs = append(errs, notOver100Percent(*mu, path.Child("maxUnavailable"))...)
		}
		return errs
	default:
		return field.ErrorList{field.Invalid(path, s.Type, fmt.Sprintf("must be '%s' or '%s'",
			appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType))}
	}
}

func validateRetentionPolicyType(t appsv1.PersistentVolumeClaimRetentionPolicyType, path *field.Path) field.ErrorList {
	switch t {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	}
	return field.ErrorList{field.NotSupported(path, t, []appsv1.PersistentVolumeClaimRetentionPolicyType{
		appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType})}
}

// validateStatefulSetSpecUpdate refuses changes to what identifies the
// set's pods and their storage: the selector, serviceName, claim
// templates and pod management policy.
func validateStatefulSetSpecUpdate(now, was *appsv1.StatefulSetSpec) field.ErrorList {
	rest := now.DeepCopy()
	rest.Replicas = was.Replicas
	rest.Ordinals = was.Ordinals
	rest.Template = was.Template
	rest.UpdateStrategy = was.UpdateStrategy
	rest.PersistentVolumeClaimRetentionPolicy = was.PersistentVolumeClaimRetentionPolicy
	rest.MinReadySeconds = was.MinReadySeconds
	rest.RevisionHistoryLimit = was.RevisionHistoryLimit
	if apiequality.Semantic.DeepEqual(rest, was) {
		return nil
	}
	return field.ErrorList{field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
}

func validateStatefulSetStatus(st *appsv1.StatefulSetStatus) field.ErrorList {
	p := statusPath
	var errs field.ErrorList
	errs = append(errs, nonNegative(int64(st.Replicas), p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(st.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, nonNegative(int64(st.CurrentReplicas), p.Child("currentReplicas"))...)
	errs = append(errs, nonNegative(int64(st.UpdatedReplicas), p.Child("updatedReplicas"))...)
	errs = append(errs, nonNegative(int64(st.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, nonNegative(st.ObservedGeneration, p.Child("observedGeneration"))...)
	errs = append(errs, nonNegativePtr(st.CollisionCount, p.Child("collisionCount"))...)
	errs = append(errs, notAbove(st.ReadyReplicas, st.Replicas, p.Child("readyReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.CurrentReplicas, st.Replicas, p.Child("currentReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.UpdatedReplicas, st.Replicas, p.Child("updatedReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.AvailableReplicas, st.Replicas, p.Child("availableReplicas"), "status.replicas")...)
	errs = append(errs, notAbove(st.AvailableReplicas, st.ReadyReplicas, p.Child("availableReplicas"), "status.readyReplicas")...)
	return errs
}
