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
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
	"coracle.dev/controller-manager/internal/controllerkit/expectations"
	"coracle.dev/controller-manager/internal/controllerkit/podcontrol"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
	"coracle.dev/controller-manager/internal/controllerkit/templatehash"
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
	ctl := &Controller{
		client: c.Client, dsLister: dsInf.Lister(), owned: owned, nodes: nodeInf.Lister(),
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
	return ctl, errors.Join(
		ctl.Watch(dsInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), ctl.ExpectedPods(kind, ctl.exp, controller.Selecting(
			func(ns string) ([]*appsv1.DaemonSet, error) {
				return ctl.dsLister.DaemonSets(ns).List(labels.Everything())
			},
			func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector }))),
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
	hash := templatehash.Hash(&ds.Spec.Template, ds.Status.CollisionCount)
	now := c.clock.Now()
	var manageErr error
	if c.exp.Satisfied(key) && ds.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, ds, Decide(ds, nodes, byNode, hash, now), hash)
	}
	st := Status(ds, nodes, byNode, hash, now)
	if !reflect.DeepEqual(st, ds.Status) {
		ds.Status = st
		if _, err := c.client.AppsV1().DaemonSets(ns).UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update daemonset %s status: %w", key, err)
		}
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.EnqueueAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(claimErr, manageErr)
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
	template.Labels[GenerationLabel] = strconv.FormatInt(ds.Generation, 10)
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
