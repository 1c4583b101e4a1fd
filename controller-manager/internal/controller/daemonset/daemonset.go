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

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/claim"
	"coracle.dev/controller-manager/internal/controller/expectations"
	"coracle.dev/controller-manager/internal/controller/podcontrol"
	"coracle.dev/controller-manager/internal/controller/podstate"
	"coracle.dev/controller-manager/internal/controller/reconcile"
)

// Name is the controller's name.
const Name = "daemonset-controller"

// ReasonFailedDaemonPod is the event for a failed daemon pod.
const ReasonFailedDaemonPod = "FailedDaemonPod"

var kind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	client   kubernetes.Interface
	dsLister appslisters.DaemonSetLister
	pods     corelisters.PodLister
	owned    controller.OwnedPods
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	podCtl   podcontrol.Interface
	exp      *expectations.Expectations
	queue    *reconcile.Queue[string]
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
	workers  int
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
		client: c.Client, dsLister: dsInf.Lister(), pods: podInf.Lister(), owned: owned, nodes: nodeInf.Lister(),
		synced:   []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		podCtl:   &podcontrol.Control{Client: c.Client, Recorder: c.Recorder},
		exp:      expectations.New(c.Clock),
		queue:    c.NewQueue(),
		recorder: c.Recorder, log: c.Log, clock: c.Clock, workers: c.Workers,
	}
	if _, err := dsInf.Informer().AddEventHandler(reconcile.Handlers(ctl.queue)); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if key, ok := ctl.ownerKey(obj.(*corev1.Pod)); ok {
				ctl.exp.CreationObserved(key)
				ctl.queue.Add(key)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, p := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			if key, ok := ctl.ownerKey(p); ok {
				if p.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
					ctl.exp.DeletionObserved(key, p.UID)
				}
				ctl.queue.Add(key)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				if key, ok := ctl.ownerKey(p); ok {
					ctl.exp.DeletionObserved(key, p.UID)
					ctl.queue.Add(key)
				}
			}
		},
	}); err != nil {
		return nil, err
	}
	enqueueAll := func() {
		list, _ := ctl.dsLister.List(labels.Everything())
		for _, ds := range list {
			ctl.queue.Add(ds.Namespace + "/" + ds.Name)
		}
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { enqueueAll() },
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*corev1.Node), newObj.(*corev1.Node)
			if !reflect.DeepEqual(o.Labels, n.Labels) || !reflect.DeepEqual(o.Spec.Taints, n.Spec.Taints) || o.Spec.Unschedulable != n.Spec.Unschedulable {
				enqueueAll()
			}
		},
		DeleteFunc: func(any) { enqueueAll() },
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

func (c *Controller) ownerKey(p *corev1.Pod) (string, bool) {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil || ref.Kind != kind.Kind || ref.APIVersion != kind.GroupVersion().String() {
		return "", false
	}
	return p.Namespace + "/" + ref.Name, true
}

// Run implements controller.Runner.
func (c *Controller) Run(ctx context.Context) {
	if !reconcile.WaitForSync(ctx, c.synced...) {
		return
	}
	c.queue.Run(ctx, c.workers, c.sync)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
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
	mgr := claim.NewManager(ds, kind, selector, func(ctx context.Context, ns, name string, patch []byte) error {
		_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	})
	pods, claimErr := claim.Claim(ctx, mgr, active)
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if n := TargetNode(p); n != "" {
			byNode[n] = append(byNode[n], p)
		}
	}
	hash := Hash(&ds.Spec.Template, ds.Status.CollisionCount)
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
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(claimErr, manageErr)
}

func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, plan Plan, hash string) error {
	key := ds.Namespace + "/" + ds.Name
	for _, p := range plan.Failed {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, ReasonFailedDaemonPod, "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, p.Spec.NodeName)
	}
	uids := make([]types.UID, len(plan.Delete))
	for i, p := range plan.Delete {
		uids[i] = p.UID
	}
	c.exp.Expect(key, len(plan.Create), uids)
	var errs []error
	if err := podcontrol.DeleteParallel(len(plan.Delete), func(i int) error {
		p := plan.Delete[i]
		if err := c.podCtl.Delete(ctx, p.Namespace, p.Name, p.UID, ds); err != nil {
			c.exp.DeletionObserved(key, p.UID)
			return err
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	ref := metav1.NewControllerRef(ds, kind)
	template := ds.Spec.Template.DeepCopy()
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[HashLabel] = hash
	template.Labels[GenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	if err := podcontrol.DeleteParallel(len(plan.Create), func(i int) error {
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
