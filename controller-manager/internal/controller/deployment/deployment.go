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
// dead one stopped. A sync reads the Deployment and its ReplicaSets from
// the cache (this file), Decide makes its Plan (decide.go, on the pure
// sizing of sizing.go, revisions of revision.go and status of
// status.go), and apply.go carries the plan out.
package deployment

import (
	"context"
	"errors"
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
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/claim"
)

// Name is the controller's name.
const Name = "deployment-controller"

var kind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	dInf := c.Informers.Apps().V1().Deployments()
	rsInf := c.Informers.Apps().V1().ReplicaSets()
	podInf := c.Informers.Core().V1().Pods()
	ctl := &Controller{
		client: c.Client, dLister: dInf.Lister(), rsLister: rsInf.Lister(), pods: podInf.Lister(),
		recorder: c.Recorder, log: c.Log, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, errors.Join(
		ctl.Watch(dInf.Informer(), ctl.Objects()),
		ctl.Watch(rsInf.Informer(), controller.Handlers[*appsv1.ReplicaSet]{
			Add: ctl.enqueueForReplicaSet,
			Update: func(old, rs *appsv1.ReplicaSet) {
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
			Delete: ctl.enqueueForReplicaSet,
		}),
		// Recreate waits for the old pods to be gone.
		ctl.Watch(podInf.Informer(), controller.Handlers[*corev1.Pod]{Delete: func(pod *corev1.Pod) {
			ref := metav1.GetControllerOfNoCopy(pod)
			if ref == nil || ref.Kind != "ReplicaSet" {
				return
			}
			rs, err := ctl.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
			if err != nil || rs.UID != ref.UID {
				return
			}
			if d := ctl.owner(rs); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
				ctl.Enqueue(controller.Key(d))
			}
		}}),
	)
}

func (c *Controller) owner(rs *appsv1.ReplicaSet) *appsv1.Deployment {
	ref := controller.OwnerRef(rs, kind)
	if ref == nil {
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
		c.Enqueue(controller.Key(d))
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
		c.Enqueue(controller.Key(d))
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok, err := controller.Get[*appsv1.Deployment](key, c.dLister.Deployments)
	if !ok {
		return err
	}
	d := cached.DeepCopy()
	if d.Spec.Selector == nil || (len(d.Spec.Selector.MatchLabels) == 0 && len(d.Spec.Selector.MatchExpressions) == 0) {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return ignoreGone(err)
		}
		return nil
	}
	rsList, err := c.replicaSetsFor(ctx, d)
	if err != nil {
		return err
	}
	var pods map[types.UID][]*corev1.Pod
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		if pods, err = c.podsByReplicaSet(d, rsList); err != nil {
			return err
		}
	}
	plan := Decide(State{Deployment: d, ReplicaSets: rsList, Pods: pods, Now: c.clock.Now()})
	r := &rollout{c: c, d: d, rsList: rsList}
	return r.apply(ctx, plan)
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
