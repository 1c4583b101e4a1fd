// Package podgc is the pod garbage collector. Every period (20s) it
// force-deletes: finished pods beyond --terminated-pod-gc-threshold,
// oldest first; pods bound to nodes that no longer exist (the node's
// absence confirmed with the apiserver, not only the cache), marked Failed
// first if they had not finished; and pods being deleted that were never
// scheduled, which no kubelet will finish.
package podgc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Name is the controller's name.
const Name = "pod-garbage-collector-controller"

// Why a pod is collected.
const (
	ReasonTerminated         = "terminated pods over the threshold"
	ReasonOrphaned           = "bound to a node that no longer exists"
	ReasonUnscheduledDeleted = "being deleted and never scheduled"
	// DisruptionReason is the DisruptionTarget condition's reason on an
	// orphaned pod, as Kubernetes sets it.
	DisruptionReason = "DeletionByPodGC"
)

// Victim is a pod to delete and why.
type Victim struct {
	Pod    *corev1.Pod
	Reason string
}

// Decide is the pure part: which pods to delete. nodeGone reports whether
// a node is known to be gone.
func Decide(pods []*corev1.Pod, nodeGone func(string) bool, threshold int) []Victim {
	var out []Victim
	taken := map[*corev1.Pod]bool{}
	if threshold > 0 {
		var terminated []*corev1.Pod
		for _, p := range pods {
			if podstate.IsTerminal(p) {
				terminated = append(terminated, p)
			}
		}
		if n := len(terminated) - threshold; n > 0 {
			sort.SliceStable(terminated, func(i, j int) bool {
				return terminated[i].CreationTimestamp.Before(&terminated[j].CreationTimestamp)
			})
			for _, p := range terminated[:n] {
				out = append(out, Victim{Pod: p, Reason: ReasonTerminated})
				taken[p] = true
			}
		}
	}
	for _, p := range pods {
		if taken[p] {
			continue
		}
		switch {
		case p.Spec.NodeName != "" && nodeGone(p.Spec.NodeName):
			out = append(out, Victim{Pod: p, Reason: ReasonOrphaned})
		case p.Spec.NodeName == "" && p.DeletionTimestamp != nil:
			out = append(out, Victim{Pod: p, Reason: ReasonUnscheduledDeleted})
		}
	}
	return out
}

// Controller is the pod garbage collector.
type Controller struct {
	*controller.Base
	client    kubernetes.Interface
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	log       *zap.Logger
	clock     clock.PassiveClock
	threshold int
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	podInf := c.Informers.Core().V1().Pods()
	nodeInf := c.Informers.Core().V1().Nodes()
	period := c.Settings.PodGCPeriod
	if period == 0 {
		period = 20 * time.Second
	}
	ctl := &Controller{
		Base:   controller.NewBase(c, nil),
		client: c.Client, pods: podInf.Lister(), nodes: nodeInf.Lister(),
		log: c.Log, clock: c.Clock, threshold: c.Settings.TerminatedPodGCThreshold,
	}
	ctl.WaitFor(podInf.Informer(), nodeInf.Informer())
	ctl.Every(period, func(ctx context.Context) {
		if err := ctl.collect(ctx); err != nil {
			ctl.log.Info("pod garbage collection incomplete", zap.Error(err))
		}
	})
	return ctl, nil
}

func (c *Controller) collect(ctx context.Context) error {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	nodeGone := func(name string) bool {
		if v, ok := gone[name]; ok {
			return v
		}
		if _, err := c.nodes.Get(name); err == nil {
			gone[name] = false
			return false
		}
		// The cache may not have a node created a moment ago: ask.
		_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		gone[name] = apierrors.IsNotFound(err)
		return gone[name]
	}
	var errs []error
	for _, v := range Decide(pods, nodeGone, c.threshold) {
		if err := c.delete(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) delete(ctx context.Context, v Victim) error {
	p := v.Pod
	if v.Reason == ReasonOrphaned && !podstate.IsTerminal(p) {
		next := p.DeepCopy()
		now := metav1.NewTime(c.clock.Now())
		next.Status.Phase = corev1.PodFailed
		next.Status.Conditions = append(next.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: DisruptionReason,
			Message: "PodGC: node no longer exists", LastTransitionTime: now,
		})
		if err := c.patchStatus(ctx, p, next); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("mark pod %s/%s failed: %w", p.Namespace, p.Name, err)
		}
	}
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.log.Info("collected pod", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("reason", v.Reason))
	return nil
}

// patchStatus writes next's status over old's with a strategic merge
// patch, as Kubernetes' pod GC does (podutil.PatchPodStatus): its role,
// system:controller:pod-garbage-collector, may patch pods/status but not
// update it. The patch names old's UID, so a pod re-created under the
// same name since is not the one marked.
func (c *Controller) patchStatus(ctx context.Context, old, next *corev1.Pod) error {
	from, err := json.Marshal(corev1.Pod{Status: old.Status})
	if err != nil {
		return err
	}
	to, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: old.UID}, Status: next.Status})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(from, to, corev1.Pod{})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(old.Namespace).Patch(ctx, old.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
