package disruption

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"

	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// DeletionTimeout is how long an eviction's entry in
// status.disruptedPods stands for a pod that is about to be deleted:
// the pod does not count as healthy meanwhile. A pod still not being
// deleted after that was not deleted at all (the delete failed), and the
// entry is dropped. The controller's and the apiservers' clocks are
// assumed to agree to well within it.
const DeletionTimeout = 2 * time.Minute

// StalePodDisruptionTimeout is how long a pod may carry a True
// DisruptionTarget condition without its deletion beginning before the
// controller sets the condition False: the eviction that set it did not
// delete the pod after all.
const StalePodDisruptionTimeout = 2 * time.Minute

// NeedsScale reports whether a budget's numbers depend on how many pods
// its pods' controllers want (their scale): with maxUnavailable, or a
// percentage minAvailable. An integer minAvailable counts only the pods
// there are.
func NeedsScale(spec *policyv1.PodDisruptionBudgetSpec) bool {
	return spec.MaxUnavailable != nil || (spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.String)
}

// Desired returns how many pods the budget expects and how many of them
// must be healthy. pods is how many pods the selector matches; scale is
// the sum of their controllers' scales, read only when NeedsScale.
// Percentages round up, as Kubernetes': minAvailable "50%" of 3 pods is
// 2, maxUnavailable "50%" of 3 is 2 (so 1 desired).
func Desired(spec *policyv1.PodDisruptionBudgetSpec, pods int, scale int32) (expected, desired int32, err error) {
	switch {
	case spec.MaxUnavailable != nil:
		unavailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(scale), true)
		if err != nil {
			return 0, 0, err
		}
		return scale, max(scale-int32(unavailable), 0), nil
	case spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.Int:
		return int32(pods), spec.MinAvailable.IntVal, nil
	case spec.MinAvailable != nil:
		available, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(scale), true)
		if err != nil {
			return 0, 0, err
		}
		return scale, int32(available), nil
	}
	// Neither bound: nothing is expected or needed, so no disruption is
	// allowed (expected is 0).
	return 0, 0, nil
}

// Plan is what the controller does with one budget.
type Plan struct {
	// Status is the budget's status as it should be.
	Status policyv1.PodDisruptionBudgetStatus
	// Update says Status differs from the stored status and is written.
	Update bool
	// Recheck, when not zero, is when the earliest kept disruptedPods
	// entry expires: the budget is looked at again then.
	Recheck time.Time
	// NotDeleted are the pods whose eviction entry expired while they
	// were not being deleted.
	NotDeleted []string
}

// Decide computes a budget's status from the pods its selector matches,
// at now: which eviction entries still stand (disruptedPods), how many
// pods are healthy (ready, not being deleted, not about to be), how many
// must be, and so how many disruptions are allowed — none while no pod
// is expected, so that a budget whose pods have not appeared yet is safe
// when they do. expected and desired are Desired's.
func Decide(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, expected, desired int32, now time.Time) Plan {
	var p Plan
	disrupted := map[string]metav1.Time{}
	for _, pod := range pods {
		at, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok || pod.DeletionTimestamp != nil {
			continue
		}
		deadline := at.Add(DeletionTimeout)
		if deadline.Before(now) {
			p.NotDeleted = append(p.NotDeleted, pod.Name)
			continue
		}
		disrupted[pod.Name] = at
		if p.Recheck.IsZero() || deadline.Before(p.Recheck) {
			p.Recheck = deadline
		}
	}
	var healthy int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(DeletionTimeout).After(now) {
			continue
		}
		if podstate.IsReady(pod) {
			healthy++
		}
	}
	allowed := healthy - desired
	if expected <= 0 || allowed < 0 {
		allowed = 0
	}

	st := &pdb.Status
	if st.CurrentHealthy == healthy && st.DesiredHealthy == desired && st.ExpectedPods == expected &&
		st.DisruptionsAllowed == allowed && equality.Semantic.DeepEqual(st.DisruptedPods, disrupted) &&
		st.ObservedGeneration == pdb.Generation && pdbhelper.ConditionsAreUpToDate(pdb) {
		p.Status = *st.DeepCopy()
		return p
	}
	next := pdb.DeepCopy()
	next.Status = policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		Conditions:         next.Status.Conditions,
	}
	pdbhelper.UpdateDisruptionAllowedCondition(next)
	p.Status, p.Update = next.Status, true
	return p
}

// FailSafe is the status of a budget whose sync failed with err: no
// disruption allowed, and a DisruptionAllowed condition that says why,
// so that the eviction handler refuses rather than trusts stale counts.
func FailSafe(pdb *policyv1.PodDisruptionBudget, err error) policyv1.PodDisruptionBudgetStatus {
	st := *pdb.Status.DeepCopy()
	st.DisruptionsAllowed = 0
	if st.Conditions == nil {
		st.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            err.Error(),
		ObservedGeneration: st.ObservedGeneration,
	})
	return st
}

// StaleDisruption reports whether pod carries a True DisruptionTarget
// condition that an eviction left without deleting the pod, and how long
// until it counts as stale (0: now). Conditions the kubelet sets, and
// those of pods that finished or are being deleted, are never stale.
func StaleDisruption(pod *corev1.Pod, now time.Time) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil || podstate.IsTerminal(pod) {
		return false, 0
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.DisruptionTarget {
			continue
		}
		if c.Status != corev1.ConditionTrue || c.Reason == corev1.PodReasonTerminationByKubelet {
			return false, 0
		}
		return true, max(StalePodDisruptionTimeout-now.Sub(c.LastTransitionTime.Time), 0)
	}
	return false, 0
}
