// Package tainteviction is the taint eviction controller: a pod on a node
// with NoExecute taints it does not tolerate is deleted at once; one that
// tolerates them for tolerationSeconds is deleted that long after the
// taint was added (the taint's timeAdded, so a restart of the controller
// does not extend the stay); one that tolerates them for ever stays. This
// is how the pods of a lost node (node.kubernetes.io/unreachable) leave
// it, so their controllers replace them elsewhere.
package tainteviction

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "taint-eviction-controller"

// ReasonEviction is the event on an evicted pod.
const ReasonEviction = "TaintManagerEviction"

// The DisruptionTarget condition set on a pod before it is deleted, as
// Kubernetes' taint manager sets it: controllers with pod failure
// policies (Jobs) tell such a deletion from a failure by it.
const (
	DisruptionReason  = "DeletionByTaintManager"
	DisruptionMessage = "Taint manager: deleting due to NoExecute taint"
	fieldManager      = "TaintManager"
)

// Verdict is what to do with a pod on a tainted node.
type Verdict struct {
	// Evict now.
	Now bool
	// At, if not zero, is when to evict.
	At time.Time
}

// Decide is the pure part: the pod's fate given its node's taints.
func Decide(tolerations []corev1.Toleration, taints []corev1.Taint, now time.Time) Verdict {
	var noExecute []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			noExecute = append(noExecute, t)
		}
	}
	if len(noExecute) == 0 {
		return Verdict{}
	}
	// As Kubernetes: each taint is tolerated by the first toleration that
	// matches it; the pod goes when the shortest of those runs out.
	var at time.Time
	for i := range noExecute {
		taint := &noExecute[i]
		var used *corev1.Toleration
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(klog.Background(), taint, false) {
				used = &tolerations[j]
				break
			}
		}
		if used == nil {
			return Verdict{Now: true}
		}
		if used.TolerationSeconds == nil {
			continue
		}
		start := now
		if taint.TimeAdded != nil {
			start = taint.TimeAdded.Time
		}
		deadline := start.Add(time.Duration(max(*used.TolerationSeconds, 0)) * time.Second)
		if at.IsZero() || deadline.Before(at) {
			at = deadline
		}
	}
	if at.IsZero() {
		return Verdict{}
	}
	if !at.After(now) {
		return Verdict{Now: true}
	}
	return Verdict{At: at}
}

// Controller is the taint eviction controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	log      *zap.Logger
	clock    clock.PassiveClock
}

// New builds the controller. A pod is looked at when it lands on a node
// or its tolerations change, and every pod of a node when the node's
// taints change.
func New(c controller.Context) (*Controller, error) {
	nodeInf := c.Informers.Core().V1().Nodes()
	podInf := c.Informers.Core().V1().Pods()
	ctl := &Controller{
		client: c.Client, nodes: nodeInf.Lister(), pods: podInf.Lister(),
		recorder: c.Recorder, log: c.Log, clock: c.Clock,
	}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, errors.Join(
		ctl.Watch(podInf.Informer(), controller.Handlers[*corev1.Pod]{
			Add: func(p *corev1.Pod) {
				if p.Spec.NodeName != "" {
					ctl.Enqueue(controller.Key(p))
				}
			},
			Update: func(old, p *corev1.Pod) {
				if p.Spec.NodeName != "" && (old.Spec.NodeName != p.Spec.NodeName || len(old.Spec.Tolerations) != len(p.Spec.Tolerations)) {
					ctl.Enqueue(controller.Key(p))
				}
			},
		}),
		ctl.Watch(nodeInf.Informer(), controller.Handlers[*corev1.Node]{
			Add: ctl.enqueueNodePods,
			Update: func(old, n *corev1.Node) {
				if !taintsEqual(old.Spec.Taints, n.Spec.Taints) {
					ctl.enqueueNodePods(n)
				}
			},
		}),
	)
}

func taintsEqual(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].MatchTaint(&b[i]) {
			return false
		}
	}
	return true
}

func (c *Controller) enqueueNodePods(node *corev1.Node) {
	hasNoExecute := false
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			hasNoExecute = true
		}
	}
	if !hasNoExecute {
		return
	}
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if p.Spec.NodeName == node.Name {
			c.Enqueue(controller.Key(p))
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	pod, ok, err := controller.Get[*corev1.Pod](key, c.pods.Pods)
	if !ok {
		return err
	}
	ns, name := pod.Namespace, pod.Name
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	now := c.clock.Now()
	v := Decide(pod.Spec.Tolerations, node.Spec.Taints, now)
	if !v.At.IsZero() {
		c.EnqueueAfter(key, v.At.Sub(now))
		return nil
	}
	if !v.Now {
		return nil
	}
	c.recorder.Eventf(pod, corev1.EventTypeNormal, ReasonEviction, "Marking for deletion Pod %s", key)
	cond := corev1apply.Pod(name, ns).WithStatus(corev1apply.PodStatus().WithConditions(
		corev1apply.PodCondition().WithType(corev1.DisruptionTarget).WithStatus(corev1.ConditionTrue).
			WithReason(DisruptionReason).WithMessage(DisruptionMessage).WithLastTransitionTime(metav1.NewTime(now))))
	_, err = c.client.CoreV1().Pods(ns).ApplyStatus(ctx, cond, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("mark pod %s for disruption: %w", key, err)
	}
	err = c.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s: %w", key, err)
	}
	c.log.Info("evicted pod from tainted node", zap.String("pod", key), zap.String("node", node.Name))
	return nil
}
