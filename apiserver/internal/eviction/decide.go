package eviction

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
)

// MaxDisruptedPods is how many evictions a budget may have approved that
// its controller has not yet seen through (status.disruptedPods): past
// it, evictions are refused until the controller catches up or forgets
// the entries, as Kubernetes' MaxDisruptedPodSize.
const MaxDisruptedPods = 2000

// tooManyRequestsMessage is the message of every 429 an eviction gets.
const tooManyRequestsMessage = "Cannot evict pod as it would violate the pod's disruption budget."

// multipleBudgetsMessage answers the eviction of a pod that more than one
// budget covers: which one to charge would be arbitrary.
const multipleBudgetsMessage = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."

// budgetResource names PodDisruptionBudgets in a Forbidden error, as
// Kubernetes' policy.Resource("poddisruptionbudget").
var budgetResource = schema.GroupResource{Group: policyv1.GroupName, Resource: "poddisruptionbudget"}

// CanIgnoreBudgets reports whether pod may go without asking any budget:
// it has finished, never started (Pending), or is already being deleted.
// Either it disrupts nothing by going, or the disruption has happened.
func CanIgnoreBudgets(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

// enforceResourceVersion reports whether deleting pod without a budget's
// say must be guarded by the resourceVersion it was judged at: a Pending
// pod could start, become ready and count toward a budget meanwhile.
func enforceResourceVersion(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return false
	}
	return pod.DeletionTimestamp == nil
}

// Covering returns the budgets of pod's namespace whose selector matches
// pod. A budget whose selector does not parse covers nothing.
func Covering(pod *corev1.Pod, budgets []*policyv1.PodDisruptionBudget) []*policyv1.PodDisruptionBudget {
	var out []*policyv1.PodDisruptionBudget
	for _, pdb := range budgets {
		if pdb.Namespace != pod.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out
}

// IsPodReady reports whether pod's Ready condition is True: what a budget
// counts as healthy.
func IsPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// UnhealthyMayGo reports whether pdb lets an unready pod it covers go
// without charging a disruption: always under the AlwaysAllow policy;
// under IfHealthyBudget (and by default) only while the budget has the
// healthy pods it needs, since the application is not disrupted then.
// Otherwise the eviction must be charged like any other.
func UnhealthyMayGo(pdb *policyv1.PodDisruptionBudget) bool {
	if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
		return true
	}
	return pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0
}

// Charge decides whether pdb allows evicting the pod podName now. If it
// does, it returns a copy of pdb with one disruption fewer allowed and
// the pod recorded in status.disruptedPods at now, for the caller to
// write (or not, on a dry run), so that the controller does not count
// the pod as healthy while its deletion is under way. If not, the error
// says why: 429 TooManyRequests while the budget is spent or its status
// is older than its spec, 403 Forbidden when the status is broken or too
// many approved evictions are unconfirmed; each carries a DisruptionBudget
// cause naming the budget.
func Charge(pdb *policyv1.PodDisruptionBudget, podName string, now time.Time) (*policyv1.PodDisruptionBudget, error) {
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return nil, stillProcessing(pdb.Name)
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return nil, forbidden(pdb.Name, "pdb disruptions allowed is negative",
			"The disruption budget %s does not allow evicting pods currently: pdb disruptions allowed is negative")
	}
	if len(pdb.Status.DisruptedPods) > MaxDisruptedPods {
		return nil, forbidden(pdb.Name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
			"The disruption budget %s does not allow evicting pods currently: too many pending evictions not confirmed by PDB controller")
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		err := apierrors.NewTooManyRequests(tooManyRequestsMessage, 0)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes,
			metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: refusal(pdb)})
		return nil, err
	}
	out := pdb.DeepCopy()
	out.Status.DisruptionsAllowed--
	if out.Status.DisruptionsAllowed == 0 {
		pdbhelper.UpdateDisruptionAllowedCondition(out)
	}
	if out.Status.DisruptedPods == nil {
		out.Status.DisruptedPods = map[string]metav1.Time{}
	}
	out.Status.DisruptedPods[podName] = metav1.NewTime(now)
	return out, nil
}

// refusal words why a spent budget refuses, as Kubernetes does: a failed
// sync first, since the counts are not to be trusted then.
func refusal(pdb *policyv1.PodDisruptionBudget) string {
	c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	failed := c != nil && c.Status == metav1.ConditionFalse && c.Message != ""
	switch {
	case failed && c.Reason == policyv1.SyncFailedReason:
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently because it failed sync: %s", pdb.Name, c.Message)
	case pdb.Status.CurrentHealthy <= pdb.Status.DesiredHealthy:
		return fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy)
	case failed:
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently (%s): %s", pdb.Name, c.Reason, c.Message)
	default:
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently", pdb.Name)
	}
}

// stillProcessing is the 429 of a budget whose status the controller has
// not yet computed for its current spec, or of an unready pod whose
// deletion lost a race with the pod becoming ready: the client retries.
func stillProcessing(name string) error {
	err := apierrors.NewTooManyRequests(tooManyRequestsMessage, 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type: policyv1.DisruptionBudgetCause, Message: fmt.Sprintf("The disruption budget %s is still being processed by the server.", name),
	})
	return err
}

func forbidden(name, reason, causeFormat string) error {
	err := apierrors.NewForbidden(budgetResource, name, errors.New(reason))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type: policyv1.DisruptionBudgetCause, Message: fmt.Sprintf(causeFormat, name),
	})
	return err
}

// multipleBudgets is the answer to evicting a pod more than one budget
// covers: a 500 without a reason, as Kubernetes sends it.
func multipleBudgets() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 500, Message: multipleBudgetsMessage,
	}}
}
