// Package replicaset is the ReplicaSet controller: it keeps
// spec.replicas pods of a ReplicaSet's template running, adopting
// matching orphans and releasing pods its selector no longer matches,
// and reports replicas, fullyLabeledReplicas, readyReplicas,
// availableReplicas and observedGeneration in the status.
//
// The same logic runs ReplicationControllers (package replication):
// the controller reaches its objects through Owners, which converts
// them.
//
// Expectations guard against a slow watch: after asking for N pods the
// controller does not act on the ReplicaSet again until it has seen the
// N pods in its cache (or five minutes passed).
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
	"coracle.dev/controller-manager/internal/controllerkit/expectations"
	"coracle.dev/controller-manager/internal/controllerkit/podcontrol"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Name is the controller's name.
const Name = "replicaset-controller"

// Controller is the ReplicaSet controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	owners   Owners
	kind     schema.GroupVersionKind
	owned    controller.OwnedPods
	podCtl   podcontrol.Interface
	exp      *expectations.Expectations
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
}

// New builds the ReplicaSet controller.
func New(c controller.Context) (*Controller, error) {
	return NewFor(c, replicaSets{client: c.Client, informer: c.Informers.Apps().V1().ReplicaSets()})
}

// NewFor builds the controller for the objects of owners.
func NewFor(c controller.Context, owners Owners) (*Controller, error) {
	podInf := c.Informers.Core().V1().Pods()
	owned, err := c.OwnedPods()
	if err != nil {
		return nil, err
	}
	ctl := &Controller{
		client: c.Client, owners: owners, kind: owners.GVK(), owned: owned,
		podCtl:   &podcontrol.Control{Client: c.Client, Recorder: c.Recorder},
		exp:      expectations.New(c.Clock),
		recorder: c.Recorder, log: c.Log, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, errors.Join(
		ctl.Watch(owners.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), controller.Handlers[*corev1.Pod]{Add: ctl.addPod, Update: ctl.updatePod, Delete: ctl.deletePod}),
	)
}

// owner returns the ReplicaSet controlling pod, if it still exists.
func (c *Controller) owner(pod *corev1.Pod) *appsv1.ReplicaSet {
	ref := controller.OwnerRef(pod, c.kind)
	if ref == nil {
		return nil
	}
	rs, err := c.owners.Get(pod.Namespace, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// enqueueSelecting queues every ReplicaSet whose selector matches an
// orphan pod: one of them may adopt it.
func (c *Controller) enqueueSelecting(pod *corev1.Pod) {
	list, err := c.owners.List(pod.Namespace)
	if err != nil {
		return
	}
	for _, rs := range list {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.Enqueue(key(rs))
	}
}

func key(rs *appsv1.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

func (c *Controller) addPod(pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if rs := c.owner(pod); rs != nil {
		c.exp.CreationObserved(key(rs))
		c.Enqueue(key(rs))
		return
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		c.enqueueSelecting(pod)
	}
}

func (c *Controller) updatePod(old, pod *corev1.Pod) {
	if old.ResourceVersion == pod.ResourceVersion {
		return
	}
	if pod.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// A graceful deletion has begun: for the ReplicaSet the pod is
		// gone now, not when the kubelet finishes.
		c.deletePod(pod)
	}
	oldRef, newRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(pod)
	if oldRef != nil && (newRef == nil || oldRef.UID != newRef.UID) {
		if rs := c.owner(old); rs != nil {
			c.Enqueue(key(rs))
		}
	}
	if rs := c.owner(pod); rs != nil {
		c.Enqueue(key(rs))
		// A pod turning ready becomes available minReadySeconds later.
		if rs.Spec.MinReadySeconds > 0 && !podstate.IsReady(old) && podstate.IsReady(pod) {
			c.EnqueueAfter(key(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if newRef == nil && (!reflect.DeepEqual(old.Labels, pod.Labels) || oldRef != nil) {
		c.enqueueSelecting(pod)
	}
}

func (c *Controller) deletePod(pod *corev1.Pod) {
	if rs := c.owner(pod); rs != nil {
		c.exp.DeletionObserved(key(rs), pod.UID)
		c.Enqueue(key(rs))
	}
}

func (c *Controller) sync(ctx context.Context, k string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil
	}
	cached, err := c.owners.Get(ns, name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(k)
		return nil
	}
	if err != nil {
		return err
	}
	rs := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err == nil && selector.Empty() {
		// It would claim every pod of the namespace; the apiserver
		// refuses it, so it is not ours to act on.
		err = errors.New("empty selector")
	}
	if err != nil {
		// An invalid selector is the user's to fix; retrying won't help.
		c.log.Info("invalid selector", zap.String("kind", c.kind.Kind), zap.String("key", k), zap.Error(err))
		return nil
	}
	needsSync := c.exp.Satisfied(k)
	all, err := c.owned.List(ns, rs.UID)
	if err != nil {
		return err
	}
	active := podstate.Filter(all, podstate.IsActive)
	mgr := claim.NewManager(rs, c.kind, selector, claim.PodPatcher(c.client), func(ctx context.Context) (metav1.Object, error) {
		return c.owners.Fetch(ctx, ns, name)
	})
	pods, claimErr := claim.Claim(ctx, mgr, active)

	var manageErr error
	var failedReason string
	if needsSync && rs.DeletionTimestamp == nil {
		failedReason, manageErr = c.manage(ctx, rs, pods)
	}
	now := c.clock.Now()
	status := Status(rs, pods, manageErr, failedReason, now)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return err
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicas(updated) && updated.Status.AvailableReplicas != replicas(updated) {
		c.EnqueueAfter(k, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(claimErr, manageErr)
}

// manage creates or deletes pods per Decide and returns the first error
// with its ReplicaFailure reason.
func (c *Controller) manage(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod) (string, error) {
	k := key(rs)
	plan := Decide(rs, pods)
	ref := metav1.NewControllerRef(rs, c.kind)
	owner := c.owners.Object(rs)
	if plan.Create > 0 {
		c.exp.Expect(k, plan.Create, nil)
		ok, err := podcontrol.SlowStartBatch(plan.Create, 1, func() error {
			_, err := c.podCtl.Create(ctx, rs.Namespace, &rs.Spec.Template, owner, ref, nil)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			return err
		})
		// Creations that failed or were skipped will never be seen.
		for i := ok; i < plan.Create; i++ {
			c.exp.CreationObserved(k)
		}
		if err != nil {
			return ReasonFailedCreate, fmt.Errorf("create pods for %s: %w", k, err)
		}
		return "", nil
	}
	if len(plan.Delete) > 0 {
		c.exp.Expect(k, 0, podcontrol.UIDs(plan.Delete))
		err := podcontrol.DeletePods(ctx, c.podCtl, plan.Delete, owner, func(p *corev1.Pod) { c.exp.DeletionObserved(k, p.UID) })
		if err != nil {
			return ReasonFailedDelete, err
		}
	}
	return "", nil
}

// updateStatus writes status if it changed, retrying once on a conflict
// with the latest ReplicaSet.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if statusEqual(rs.Status, status) {
		return rs, nil
	}
	for attempt := 0; ; attempt++ {
		next := rs.DeepCopy()
		next.Status = status
		updated, err := c.owners.UpdateStatus(ctx, next)
		if err == nil {
			return updated, nil
		}
		if apierrors.IsNotFound(err) {
			return rs, nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return nil, fmt.Errorf("update status of %s %s: %w", strings.ToLower(c.kind.Kind), key(rs), err)
		}
		fresh, gerr := c.owners.Fetch(ctx, rs.Namespace, rs.Name)
		if gerr != nil {
			return nil, gerr
		}
		// The status describes the generation we saw.
		status.ObservedGeneration = rs.Generation
		rs = fresh
	}
}

func statusEqual(a, b appsv1.ReplicaSetStatus) bool {
	if a.Replicas != b.Replicas || a.FullyLabeledReplicas != b.FullyLabeledReplicas || a.ReadyReplicas != b.ReadyReplicas ||
		a.AvailableReplicas != b.AvailableReplicas || a.ObservedGeneration != b.ObservedGeneration || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}
