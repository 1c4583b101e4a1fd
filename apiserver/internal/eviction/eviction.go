// Package eviction carries out pods/eviction as Kubernetes'
// EvictionREST does: a pod is deleted only if the PodDisruptionBudget
// covering it allows one more disruption, which the eviction then
// charges to the budget's status before the delete.
//
// The decisions are pure functions (CanIgnoreBudgets, Covering,
// UnhealthyMayGo, Charge); Evictor applies them to the stored pods and
// budgets, which it reaches through the Pods and Budgets interfaces, so
// that it knows nothing of the stores behind them.
//
//	pod finished, Pending or deleting ──► delete (a Pending pod guarded by its resourceVersion)
//	no budget ─────────────────────────► delete
//	more than one budget ──────────────► 500
//	unready pod the budget lets go ────► delete guarded by its resourceVersion (429 if it changed)
//	otherwise Charge the budget ──┬─ allowed: write the budget's status, then delete
//	                              └─ refused: 429 (or 403) with a DisruptionBudget cause
package eviction

import (
	"context"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Pods are the stored pods, as the evictor reads and changes them. Errors
// are Kubernetes status errors (NotFound, Conflict, …), passed on to the
// client as they are.
type Pods interface {
	// Get reads the current pod.
	Get(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// UpdateStatus writes the status of the current pod as change leaves
	// it, through the status subresource, and returns the stored pod.
	// change is handed the current pod and may refuse it with an error;
	// it may be called again when the write loses a race.
	UpdateStatus(ctx context.Context, namespace, name string, change func(pod *corev1.Pod) error) (*corev1.Pod, error)
	// Delete deletes the pod as a DELETE with opts would, a dry run when
	// opts.DryRun is set.
	Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) error
}

// Budgets are the stored PodDisruptionBudgets.
type Budgets interface {
	// List returns the budgets of namespace.
	List(ctx context.Context, namespace string) ([]*policyv1.PodDisruptionBudget, error)
	// Get reads the current budget.
	Get(ctx context.Context, namespace, name string) (*policyv1.PodDisruptionBudget, error)
	// UpdateStatus writes pdb's status if the stored budget is still at
	// pdb's resourceVersion, else fails with a Conflict.
	UpdateStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error
}

// Retry is how often, and how far apart, an eviction retries what it lost
// to a concurrent write (of the pod, or of the budget by another
// eviction or the controller): Kubernetes' EvictionsRetry, ten seconds
// at most.
var Retry = wait.Backoff{Steps: 20, Duration: 500 * time.Millisecond, Factor: 1.0, Jitter: 0.1}

// Evictor evicts pods.
type Evictor struct {
	Pods    Pods
	Budgets Budgets
	// Now stamps status.disruptedPods; nil means time.Now.
	Now func() time.Time
	// Retry bounds the retries on conflicts; the zero value means Retry.
	Retry wait.Backoff
}

// evictionKind names Evictions in Invalid errors.
var evictionKind = schema.GroupKind{Group: policyv1.GroupName, Kind: "Eviction"}

// Evict evicts the pod ev names (ev's namespace and name are the
// request's). dryRun is the request's dryRun query parameter, which
// must agree with ev.deleteOptions.dryRun when both are set. A nil error
// means the pod is deleted, or its graceful deletion has begun.
func (e *Evictor) Evict(ctx context.Context, ev *policyv1.Eviction, dryRun []string) error {
	if ev.DeleteOptions != nil && ptr.Deref(ev.DeleteOptions.IgnoreStoreReadErrorWithClusterBreakingPotential, false) {
		return apierrors.NewInvalid(evictionKind, ev.Name, field.ErrorList{field.Invalid(
			field.NewPath("deleteOptions", "ignoreStoreReadErrorWithClusterBreakingPotential"), true,
			"can not be set for pod eviction, try after removing the option")})
	}
	opts, err := deleteOptions(ev, dryRun)
	if err != nil {
		return err
	}
	pod, deleted, err := e.deleteWithoutBudget(ctx, ev.Namespace, ev.Name, opts)
	if err != nil || deleted {
		return err
	}

	budgets, err := e.Budgets.List(ctx, pod.Namespace)
	if err != nil {
		return err
	}
	covering := Covering(pod, budgets)
	switch {
	case len(covering) > 1:
		return multipleBudgets()
	case len(covering) == 0:
		return e.markAndDelete(ctx, pod.Namespace, pod.Name, opts)
	}
	pdb := covering[0]
	if !IsPodReady(pod) && UnhealthyMayGo(pdb) {
		// An unready pod does not count toward the budget, so it goes
		// without a charge — as long as it stays unready: the delete is
		// guarded by the version judged, and a lost race is a 429 for
		// the client to retry.
		guarded := opts
		if !hasResourceVersion(opts) {
			guarded = withResourceVersion(opts, pod.ResourceVersion)
		}
		err := e.markAndDelete(ctx, pod.Namespace, pod.Name, guarded)
		if apierrors.IsConflict(err) && !hasResourceVersion(opts) {
			return stillProcessing(pdb.Name)
		}
		return err
	}
	if err := e.charge(ctx, pod, pdb, len(opts.DryRun) > 0); err != nil {
		return err
	}
	return e.markAndDelete(ctx, pod.Namespace, pod.Name, opts)
}

// deleteWithoutBudget deletes the pod if it may go without asking a
// budget (deleted true); otherwise it returns the pod read, for the
// budgets to judge. A lost race with a write to the pod is retried,
// unless the client pinned the pod's resourceVersion.
func (e *Evictor) deleteWithoutBudget(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) (*corev1.Pod, bool, error) {
	retriable := apierrors.IsConflict
	if hasResourceVersion(opts) {
		retriable = func(error) bool { return false }
	}
	var pod *corev1.Pod
	deleted := false
	err := retry.OnError(e.backoff(), retriable, func() error {
		var err error
		if pod, err = e.Pods.Get(ctx, namespace, name); err != nil {
			return err
		}
		if !CanIgnoreBudgets(pod) {
			return nil
		}
		guarded := opts
		if enforceResourceVersion(pod) && !hasResourceVersion(opts) {
			// A Pending pod judged now must not be one that became ready
			// since.
			guarded = withResourceVersion(opts, pod.ResourceVersion)
		}
		if err := e.markAndDelete(ctx, namespace, name, guarded); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	return pod, deleted, err
}

// charge has pdb allow the eviction of pod and writes the budget's new
// status (not on a dry run), reading the budget again after a conflict
// with another writer.
func (e *Evictor) charge(ctx context.Context, pod *corev1.Pod, pdb *policyv1.PodDisruptionBudget, dryRun bool) error {
	refresh := false
	return retry.RetryOnConflict(e.backoff(), func() error {
		if refresh {
			var err error
			if pdb, err = e.Budgets.Get(ctx, pod.Namespace, pdb.Name); err != nil {
				return err
			}
		}
		refresh = true
		charged, err := Charge(pdb, pod.Name, e.now())
		if err != nil || dryRun {
			return err
		}
		return e.Budgets.UpdateStatus(ctx, charged)
	})
}

// markAndDelete records on the pod, with a DisruptionTarget condition,
// why it is about to go, then deletes it. The condition is written to the
// latest pod, after opts' preconditions are checked on it; a
// resourceVersion precondition then moves to the version that write made.
// A dry run writes nothing.
func (e *Evictor) markAndDelete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) error {
	if len(opts.DryRun) == 0 {
		pod, err := e.Pods.UpdateStatus(ctx, namespace, name, func(pod *corev1.Pod) error {
			if err := checkPreconditions(pod, opts.Preconditions); err != nil {
				return err
			}
			setDisruptionTarget(pod, metav1.NewTime(e.now()))
			return nil
		})
		if err != nil {
			return err
		}
		if hasResourceVersion(opts) {
			opts = withResourceVersion(opts, pod.ResourceVersion)
		}
	}
	return e.Pods.Delete(ctx, namespace, name, opts)
}

// checkPreconditions refuses a pod that is not the one, or not the
// version, the delete options name, with Kubernetes' words.
func checkPreconditions(pod *corev1.Pod, p *metav1.Preconditions) error {
	if p == nil {
		return nil
	}
	// Kubernetes names the resource "Pod" in these conflicts.
	gr := schema.GroupResource{Resource: "Pod"}
	if uid := p.UID; uid != nil && *uid != "" && *uid != pod.UID {
		return apierrors.NewConflict(gr, pod.Name, fmt.Errorf(
			"the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *uid, pod.UID))
	}
	if rv := p.ResourceVersion; rv != nil && *rv != "" && *rv != pod.ResourceVersion {
		return apierrors.NewConflict(gr, pod.Name, fmt.Errorf(
			"the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *rv, pod.ResourceVersion))
	}
	return nil
}

// setDisruptionTarget sets the pod's DisruptionTarget condition to True
// for the Eviction API, keeping its transition time if it was True.
func setDisruptionTarget(pod *corev1.Pod, now metav1.Time) {
	cond := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting", LastTransitionTime: now,
	}
	for i, c := range pod.Status.Conditions {
		if c.Type != cond.Type {
			continue
		}
		if c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		}
		cond.LastProbeTime = c.LastProbeTime
		pod.Status.Conditions[i] = cond
		return
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}

// deleteOptions are the eviction's delete options with the request's
// dryRun folded in: the two may not disagree.
func deleteOptions(ev *policyv1.Eviction, dryRun []string) (*metav1.DeleteOptions, error) {
	opts := ev.DeleteOptions
	switch {
	case opts == nil:
		opts = &metav1.DeleteOptions{DryRun: dryRun}
	case len(opts.DryRun) == 0:
		opts = opts.DeepCopy()
		opts.DryRun = dryRun
	case len(dryRun) > 0 && !reflect.DeepEqual(dryRun, opts.DryRun):
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: 500, Reason: metav1.StatusReasonUnknown,
			Message: fmt.Sprintf("Non-matching dry-run options in request and content: %v and %v", dryRun, opts.DryRun),
		}}
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q", v))
		}
	}
	return opts, nil
}

func hasResourceVersion(opts *metav1.DeleteOptions) bool {
	return opts.Preconditions != nil && opts.Preconditions.ResourceVersion != nil
}

// withResourceVersion is a copy of opts that deletes only the version rv.
func withResourceVersion(opts *metav1.DeleteOptions, rv string) *metav1.DeleteOptions {
	out := opts.DeepCopy()
	if out.Preconditions == nil {
		out.Preconditions = &metav1.Preconditions{}
	}
	out.Preconditions.ResourceVersion = &rv
	return out
}

func (e *Evictor) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e *Evictor) backoff() wait.Backoff {
	if e.Retry.Steps == 0 {
		return Retry
	}
	return e.Retry
}
