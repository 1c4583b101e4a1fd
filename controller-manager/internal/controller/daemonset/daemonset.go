// Package daemonset is the DaemonSet controller: one pod on every node
// the DaemonSet's node selector, required node affinity and the node's
// taints allow (with the tolerations Kubernetes adds to daemon pods for
// not-ready, unreachable, pressured and unschedulable nodes); a new node
// gets its pod; RollingUpdate (maxUnavailable, maxSurge) or OnDelete
// updates; status counts. Pods are pinned to their node by node affinity
// on metadata.name and bound by the scheduler, as in Kubernetes.
package daemonset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
	"coracle.dev/controller-manager/internal/controllerkit/expectations"
	"coracle.dev/controller-manager/internal/controllerkit/history"
	"coracle.dev/controller-manager/internal/controllerkit/podcontrol"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Name is the controller's name.
const Name = "daemonset-controller"

// ReasonFailedDaemonPod is the event for a failed daemon pod.
const ReasonFailedDaemonPod = "FailedDaemonPod"

var kind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	dsLister appslisters.DaemonSetLister
	revs     appslisters.ControllerRevisionLister
	owned    controller.OwnedPods
	nodes    corelisters.NodeLister
	podCtl   podcontrol.Interface
	exp      *expectations.Expectations
	recorder record.EventRecorder
	clock    clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	dsInf := c.Informers.Apps().V1().DaemonSets()
	podInf := c.Informers.Core().V1().Pods()
	owned, err := c.OwnedPods()
	if err != nil {
		return nil, err
	}
	nodeInf := c.Informers.Core().V1().Nodes()
	revInf := c.Informers.Apps().V1().ControllerRevisions()
	ctl := &Controller{
		client: c.Client, dsLister: dsInf.Lister(), revs: revInf.Lister(), owned: owned, nodes: nodeInf.Lister(),
		podCtl:   &podcontrol.Control{Client: c.Client, Recorder: c.Recorder},
		exp:      expectations.New(c.Clock),
		recorder: c.Recorder, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	// A node's arrival, departure or change of what it admits concerns
	// every DaemonSet.
	enqueueAll := func(*corev1.Node) {
		list, _ := ctl.dsLister.List(labels.Everything())
		for _, ds := range list {
			ctl.Enqueue(controller.Key(ds))
		}
	}
	selecting := controller.Selecting(
		func(ns string) ([]*appsv1.DaemonSet, error) {
			return ctl.dsLister.DaemonSets(ns).List(labels.Everything())
		},
		func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector })
	enqueueOwnerOrAdopters := func(r *appsv1.ControllerRevision) {
		if key, ok := controller.OwnerKey(r, kind); ok {
			ctl.Enqueue(key)
			return
		}
		if metav1.GetControllerOfNoCopy(r) == nil {
			for _, key := range selecting(r) {
				ctl.Enqueue(key)
			}
		}
	}
	return ctl, errors.Join(
		ctl.Watch(dsInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), ctl.ExpectedPods(kind, ctl.exp, selecting)),
		// As Kubernetes: a revision the controller made itself (or one a
		// user adds to a set's history) is looked at on the set's next
		// sync; a changed or deleted one syncs its set now; an orphan
		// syncs the sets that may adopt it.
		ctl.Watch(revInf.Informer(), controller.Handlers[*appsv1.ControllerRevision]{
			Add: func(r *appsv1.ControllerRevision) {
				if metav1.GetControllerOfNoCopy(r) == nil {
					enqueueOwnerOrAdopters(r)
				}
			},
			Update: func(old, r *appsv1.ControllerRevision) {
				if key, ok := controller.OwnerKey(old, kind); ok {
					ctl.Enqueue(key)
				}
				enqueueOwnerOrAdopters(r)
			},
			Delete: enqueueOwnerOrAdopters,
		}),
		ctl.Watch(nodeInf.Informer(), controller.Handlers[*corev1.Node]{
			Add: enqueueAll,
			Update: func(o, n *corev1.Node) {
				if !reflect.DeepEqual(o.Labels, n.Labels) || !reflect.DeepEqual(o.Spec.Taints, n.Spec.Taints) || o.Spec.Unschedulable != n.Spec.Unschedulable {
					enqueueAll(n)
				}
			},
			Delete: enqueueAll,
		}),
	)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*appsv1.DaemonSet](key, c.dsLister.DaemonSets)
	if err != nil {
		return err
	}
	if !ok {
		c.exp.Delete(key)
		return nil
	}
	ns, name := cached.Namespace, cached.Name
	ds := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	all, err := c.owned.List(ns, ds.UID)
	if err != nil {
		return err
	}
	active := podstate.Filter(all, func(p *corev1.Pod) bool { return p.DeletionTimestamp == nil })
	mgr := claim.NewManager(ds, kind, selector, claim.PodPatcher(c.client), func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	})
	pods, claimErr := claim.Claim(ctx, mgr, active)
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if n := TargetNode(p); n != "" {
			byNode[n] = append(byNode[n], p)
		}
	}
	now := c.clock.Now()
	if ds.DeletionTimestamp != nil {
		// Only the status, until the garbage collector is done.
		hash := history.Hash(&ds.Spec.Template, ds.Status.CollisionCount)
		return errors.Join(claimErr, c.writeStatus(ctx, ds, Status(ds, nodes, byNode, hash, now)))
	}
	cur, old, collisionCount, err := c.history(ctx, ds, selector, pods)
	if err != nil {
		return errors.Join(claimErr, err)
	}
	hash := cur.Labels[HashLabel]
	var manageErr error
	if c.exp.Satisfied(key) {
		manageErr = c.manage(ctx, ds, Decide(ds, nodes, byNode, hash, now), hash)
	}
	st := Status(ds, nodes, byNode, hash, now)
	if collisionCount != 0 || ds.Status.CollisionCount != nil {
		st.CollisionCount = &collisionCount
	}
	statusErr := c.writeStatus(ctx, ds, st)
	var cleanupErrs []error
	for _, r := range ExpiredRevisions(ds, all, old) {
		cleanupErrs = append(cleanupErrs, history.Delete(ctx, c.client, r))
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.EnqueueAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(claimErr, manageErr, statusErr, errors.Join(cleanupErrs...))
}

// writeStatus writes st if it differs from ds's status.
func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	if reflect.DeepEqual(st, ds.Status) {
		return nil
	}
	ds = ds.DeepCopy()
	ds.Status = st
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update daemonset %s/%s status: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}

// history claims ds's ControllerRevisions and finds (making it if need
// be) the current revision, which holds ds's template and is the newest;
// the others are old. Duplicates of the current template are removed
// after its pods are relabelled to the one kept, as Kubernetes does. It
// returns the collision count that named the current revision.
func (c *Controller) history(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector, pods []*corev1.Pod) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, collisionCount int32, err error) {
	listed, err := c.revs.ControllerRevisions(ds.Namespace).List(selector)
	if err != nil {
		return nil, nil, 0, err
	}
	patch := func(ctx context.Context, namespace, name string, patch []byte) error {
		_, err := c.client.AppsV1().ControllerRevisions(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
	recheck := func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	}
	revisions, err := claim.Claim(ctx, claim.NewManager(ds, kind, selector, patch, recheck), listed)
	if err != nil {
		return nil, nil, 0, err
	}
	for i, r := range revisions {
		if r.Labels[HashLabel] != "" {
			continue
		}
		// A revision made by hand: its name stands for its hash.
		labelled := r.DeepCopy()
		if labelled.Labels == nil {
			labelled.Labels = map[string]string{}
		}
		labelled.Labels[HashLabel] = labelled.Name
		if revisions[i], err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, labelled, metav1.UpdateOptions{}); err != nil {
			return nil, nil, 0, fmt.Errorf("label controllerrevision %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	if ds.Status.CollisionCount != nil {
		collisionCount = *ds.Status.CollisionCount
	}
	proposed, err := NewRevision(ds, 0, &collisionCount)
	if err != nil {
		return nil, nil, 0, err
	}
	current, old := SplitHistory(revisions, proposed)
	next := history.Next(old)
	if len(current) == 0 {
		cur, err = history.Create(ctx, c.client, ds.Namespace, &collisionCount, func(cc *int32) (*appsv1.ControllerRevision, error) {
			return NewRevision(ds, next, cc)
		})
		return cur, old, collisionCount, err
	}
	cur = KeepOf(current)
	if len(current) > 1 {
		if err := c.dedup(ctx, ds, cur, current, pods); err != nil {
			return nil, nil, 0, err
		}
	}
	if cur.Revision < next {
		cur, err = history.Renumber(ctx, c.client, cur, next)
	}
	return cur, old, collisionCount, err
}

// dedup relabels ds's pods to the hash of keep and deletes the other
// revisions of the same template.
func (c *Controller) dedup(ctx context.Context, ds *appsv1.DaemonSet, keep *appsv1.ControllerRevision, current []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	hash := keep.Labels[HashLabel]
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{HashLabel: hash}}})
	if err != nil {
		return err
	}
	for _, p := range pods {
		if p.Labels[HashLabel] == hash {
			continue
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("relabel pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	var errs []error
	for _, r := range current {
		if r != keep {
			errs = append(errs, history.Delete(ctx, c.client, r))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, plan Plan, hash string) error {
	key := ds.Namespace + "/" + ds.Name
	for _, p := range plan.Failed {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonFailedDaemonPod, "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, p.Spec.NodeName)
	}
	c.exp.Expect(key, len(plan.Create), podcontrol.UIDs(plan.Delete))
	var errs []error
	if err := podcontrol.DeletePods(ctx, c.podCtl, plan.Delete, ds, func(p *corev1.Pod) { c.exp.DeletionObserved(key, p.UID) }); err != nil {
		errs = append(errs, err)
	}
	ref := metav1.NewControllerRef(ds, kind)
	template := ds.Spec.Template.DeepCopy()
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[HashLabel] = hash
	if gen := TemplateGeneration(ds); gen != "" {
		template.Labels[GenerationLabel] = gen
	}
	if err := podcontrol.Parallel(len(plan.Create), func(i int) error {
		node := plan.Create[i]
		_, err := c.podCtl.Create(ctx, ds.Namespace, template, ds, ref, func(p *corev1.Pod) { PinToNode(p, node) })
		if err != nil {
			c.exp.CreationObserved(key)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
		}
		return err
	}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
