// Package deployment is the Deployment controller: one ReplicaSet per pod
// template (told apart by the pod-template-hash label), rolled from old to
// new with the RollingUpdate (maxSurge, maxUnavailable) or Recreate
// strategy; revisions in the deployment.kubernetes.io/revision annotation
// (a template seen before — a rollback — brings its ReplicaSet back with
// a new revision); revisionHistoryLimit; pause and resume; proportional
// scaling of a rollout in flight; the Available and Progressing
// conditions, with progressDeadlineSeconds.
//
// All state is in the API objects, so a new leader carries on where a
// dead one stopped. The pure functions in decide.go size the ReplicaSets;
// this file and rollout.go read the cache and write the results.
package deployment

import (
	"context"
	"fmt"
	"reflect"

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
	"coracle.dev/controller-manager/internal/controller/reconcile"
)

// Name is the controller's name.
const Name = "deployment-controller"

var kind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    *reconcile.Queue[string]
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
	workers  int
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	dInf := c.Informers.Apps().V1().Deployments()
	rsInf := c.Informers.Apps().V1().ReplicaSets()
	podInf := c.Informers.Core().V1().Pods()
	ctl := &Controller{
		client: c.Client, dLister: dInf.Lister(), rsLister: rsInf.Lister(), pods: podInf.Lister(),
		synced: []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:  c.NewQueue(), recorder: c.Recorder, log: c.Log, clock: c.Clock, workers: c.Workers,
	}
	if _, err := dInf.Informer().AddEventHandler(reconcile.Handlers(ctl.queue)); err != nil {
		return nil, err
	}
	onRS := func(obj any) {
		rs, ok := obj.(*appsv1.ReplicaSet)
		if !ok {
			t, ok := obj.(cache.DeletedFinalStateUnknown)
			if !ok {
				return
			}
			if rs, ok = t.Obj.(*appsv1.ReplicaSet); !ok {
				return
			}
		}
		ctl.enqueueForReplicaSet(rs)
	}
	if _, err := rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onRS,
		UpdateFunc: func(oldObj, newObj any) {
			old, rs := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
			if old.ResourceVersion == rs.ResourceVersion {
				return
			}
			// A release moves the ReplicaSet from one owner to none.
			if !reflect.DeepEqual(metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(rs)) ||
				!reflect.DeepEqual(old.Labels, rs.Labels) {
				ctl.enqueueForReplicaSet(old)
			}
			ctl.enqueueForReplicaSet(rs)
		},
		DeleteFunc: onRS,
	}); err != nil {
		return nil, err
	}
	// Recreate waits for the old pods to be gone.
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				t, ok := obj.(cache.DeletedFinalStateUnknown)
				if !ok {
					return
				}
				if pod, ok = t.Obj.(*corev1.Pod); !ok {
					return
				}
			}
			ref := metav1.GetControllerOfNoCopy(pod)
			if ref == nil || ref.Kind != "ReplicaSet" {
				return
			}
			rs, err := ctl.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
			if err != nil || rs.UID != ref.UID {
				return
			}
			if d := ctl.owner(rs); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
				ctl.queue.Add(d.Namespace + "/" + d.Name)
			}
		},
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

// Run implements controller.Runner.
func (c *Controller) Run(ctx context.Context) {
	if !reconcile.WaitForSync(ctx, c.synced...) {
		return
	}
	c.queue.Run(ctx, c.workers, c.sync)
}

func (c *Controller) owner(rs *appsv1.ReplicaSet) *appsv1.Deployment {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil || ref.Kind != kind.Kind || ref.APIVersion != kind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(rs.Namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

func (c *Controller) enqueueForReplicaSet(rs *appsv1.ReplicaSet) {
	if d := c.owner(rs); d != nil {
		c.queue.Add(d.Namespace + "/" + d.Name)
		return
	}
	if metav1.GetControllerOfNoCopy(rs) != nil {
		return
	}
	// An orphan: any Deployment selecting it may adopt it.
	list, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range list {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		c.queue.Add(d.Namespace + "/" + d.Name)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	if d.Spec.Selector == nil || (len(d.Spec.Selector.MatchLabels) == 0 && len(d.Spec.Selector.MatchExpressions) == 0) {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return ignoreGone(err)
		}
		return nil
	}
	rsList, err := c.replicaSetsFor(ctx, d)
	if err != nil {
		return err
	}
	r := &rollout{c: c, d: d, rsList: rsList}
	if d.DeletionTimestamp != nil {
		return r.syncStatusOnly(ctx)
	}
	if err := r.checkPausedConditions(ctx); err != nil {
		return err
	}
	if d.Spec.Paused {
		return r.scaleAndSync(ctx)
	}
	newRS := FindNewReplicaSet(d, rsList)
	if IsScalingEvent(d, all(newRS, FindOldReplicaSets(rsList, newRS))) {
		return r.scaleAndSync(ctx)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return r.recreate(ctx)
	}
	return r.rolling(ctx)
}

// replicaSetsFor claims the ReplicaSets of d: adopting matching orphans,
// releasing the ones no longer selected.
func (c *Controller) replicaSetsFor(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has an invalid selector: %w", d.Namespace, d.Name, err)
	}
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	mgr := claim.NewManager(d, kind, selector,
		func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
		func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		})
	return claim.Claim(ctx, mgr, all)
}

// podsByReplicaSet groups the pods d selects by the UID of their
// ReplicaSet, for Recreate to see old pods still there.
func (c *Controller) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.pods.Pods(d.Namespace).List(selector)
	if err != nil {
		return nil, err
	}
	out := map[types.UID][]*corev1.Pod{}
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			continue
		}
		if _, ok := out[ref.UID]; ok {
			out[ref.UID] = append(out[ref.UID], p)
		}
	}
	return out, nil
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
