// Package disruption is the disruption controller: for every
// PodDisruptionBudget it counts the healthy (ready) pods the selector
// matches, works out how many must stay healthy — from minAvailable or
// maxUnavailable, percentages taken of the scale the pods' controllers
// want — and writes how many disruptions are allowed now into the
// budget's status, which the apiserver's pods/eviction handler reads and
// charges. It also forgets the evictions the handler recorded in
// status.disruptedPods once their pods are gone, or once two minutes pass
// without the pod being deleted, and resets the DisruptionTarget
// condition of pods an eviction marked but did not delete.
package disruption

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "disruption-controller"

// Controller is the disruption controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	pdbs     policylisters.PodDisruptionBudgetLister
	pods     corelisters.PodLister
	scales   *scales
	stale    *controller.Queue[string] // pods whose DisruptionTarget may be stale
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
}

// New builds the controller; it is off (nil) when the apiserver serves
// no policy/v1.
func New(c controller.Context) (controller.Runner, error) {
	if !controller.Served(c.Discovery, policyv1.SchemeGroupVersion.String()) {
		c.Log.Info("policy/v1 not served; disruption controller off")
		return nil, nil
	}
	podInf := c.Informers.Core().V1().Pods()
	pdbInf := c.Informers.Policy().V1().PodDisruptionBudgets()
	ctl := &Controller{
		client: c.Client, pdbs: pdbInf.Lister(), pods: podInf.Lister(),
		scales: newScales(c), recorder: c.Recorder, log: c.Log, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.stale = ctl.AddQueue(c, Name+"-stale-pod-disruption", ctl.syncStalePod)
	// The controllers' objects are read for their scale only: a change
	// of scale shows as pods coming and going, which requeue the budget.
	ctl.WaitFor(c.Informers.Core().V1().ReplicationControllers().Informer(),
		c.Informers.Apps().V1().ReplicaSets().Informer(),
		c.Informers.Apps().V1().Deployments().Informer(),
		c.Informers.Apps().V1().StatefulSets().Informer())
	return ctl, errors.Join(
		ctl.Watch(pdbInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), controller.OnAll(ctl.podChanged)),
	)
}

// podChanged queues the budgets covering pod, and the pod itself if it
// carries a DisruptionTarget condition that may turn stale.
func (c *Controller) podChanged(pod *corev1.Pod) {
	if budgets, err := c.pdbs.GetPodPodDisruptionBudgets(pod); err == nil {
		if len(budgets) > 1 {
			msg := fmt.Sprintf("Pod %q/%q matches multiple PodDisruptionBudgets.  Chose %q arbitrarily.", pod.Namespace, pod.Name, budgets[0].Name)
			c.recorder.Event(pod, corev1.EventTypeWarning, "MultiplePodDisruptionBudgets", msg)
		}
		for _, pdb := range budgets {
			c.Enqueue(controller.Key(pdb))
		}
	}
	if stale, after := StaleDisruption(pod, c.clock.Now()); stale {
		c.stale.AddAfter(controller.Key(pod), after)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*policyv1.PodDisruptionBudget](key, c.pdbs.PodDisruptionBudgets)
	if !ok {
		return err
	}
	pdb := cached.DeepCopy()
	err = c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		// A conflict is another writer (an eviction) having been first:
		// requeued as it is, without failing the budget safe.
		return err
	}
	c.log.Info("sync failed; no disruption allowed", zap.String("pdb", key), zap.Error(err))
	pdb.Status = FailSafe(pdb, err)
	if werr := c.writeStatus(ctx, pdb); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// trySync computes the budget's status and writes it if it changed.
func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return err
	}
	pods, err := c.pods.Pods(pdb.Namespace).List(sel)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return err
	}
	if len(pods) == 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	var scale int32
	if NeedsScale(&pdb.Spec) {
		var unmanaged []string
		scale, unmanaged, err = c.scales.expected(ctx, pods)
		if err != nil {
			c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
			return err
		}
		if len(unmanaged) > 0 {
			c.log.Debug("budget selects unmanaged pods", zap.String("pdb", controller.Key(pdb)), zap.Strings("pods", unmanaged))
			c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
				"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
				"To account for these pods please set \".spec.minAvailable\" "+
				"field of the PDB to an integer value.", pdb.Spec.Selector)
		}
	}
	expected, desired, err := Desired(&pdb.Spec, len(pods), scale)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return err
	}
	now := c.clock.Now()
	plan := Decide(pdb, pods, expected, desired, now)
	for _, name := range plan.NotDeleted {
		if pod, err := c.pods.Pods(pdb.Namespace).Get(name); err == nil {
			c.recorder.Eventf(pod, corev1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s/%s to be deleted but it wasn't", pdb.Namespace, pdb.Name)
		}
	}
	if plan.Update {
		pdb.Status = plan.Status
		if err := c.writeStatus(ctx, pdb); err != nil {
			return err
		}
	}
	if !plan.Recheck.IsZero() {
		// An eviction entry expires then: the pod counts again, or the
		// entry goes.
		c.EnqueueAfter(controller.Key(pdb), plan.Recheck.Sub(now))
	}
	return nil
}

// writeStatus writes pdb's status once, guarded by the resourceVersion
// read: a lost race is retried by the queue with a fresh read, never
// merged over an eviction's decrement.
func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	_, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, pdb, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update status of pdb %s: %w", controller.Key(pdb), err)
	}
	return nil
}

// syncStalePod sets a DisruptionTarget condition False once it has been
// True for StalePodDisruptionTimeout on a pod whose deletion never began.
func (c *Controller) syncStalePod(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*corev1.Pod](key, c.pods.Pods)
	if !ok {
		return err
	}
	stale, after := StaleDisruption(cached, c.clock.Now())
	if !stale {
		return nil
	}
	if after > 0 {
		c.stale.AddAfter(key, after)
		return nil
	}
	pod := cached.DeepCopy()
	for i, cond := range pod.Status.Conditions {
		if cond.Type == corev1.DisruptionTarget {
			// The eviction's reason and message no longer hold.
			pod.Status.Conditions[i] = corev1.PodCondition{Type: cond.Type, Status: corev1.ConditionFalse,
				LastTransitionTime: metav1.NewTime(c.clock.Now())}
		}
	}
	if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("reset stale DisruptionTarget of pod %s: %w", key, err)
	}
	c.log.Info("reset stale DisruptionTarget condition", zap.String("pod", key))
	return nil
}
