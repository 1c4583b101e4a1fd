// Package binder writes the scheduler's decisions to the API: a pod's
// binding to its node (pods/binding, which sets spec.nodeName and the
// PodScheduled condition in one write), and, when a pod fits nowhere, its
// PodScheduled=False condition and nominated node (pods/status). It is the
// thin acting layer; every decision was made before it is called.
package binder

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
)

// Binder talks to the API for the scheduler.
type Binder struct {
	client kubernetes.Interface
}

// New returns a binder using client.
func New(client kubernetes.Interface) *Binder { return &Binder{client: client} }

// Bind binds pod to node. The binding names the pod's UID, so a pod
// deleted and recreated under the same name meanwhile is not bound by
// mistake; the API answers 409 Conflict if the pod is already bound.
func (b *Binder) Bind(ctx context.Context, pod *v1.Pod, node string) error {
	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := b.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("bind pod %s/%s to node %s: %w", pod.Namespace, pod.Name, node, err)
	}
	return nil
}

// StatusUpdate is what the scheduler says in a pod's status when it could
// not place it.
type StatusUpdate struct {
	// Condition is the PodScheduled condition to set (Status False).
	Condition v1.PodCondition
	// NominatedNodeName is set when not nil ("" clears it).
	NominatedNodeName *string
}

// NewStatus returns pod's status with u applied, and whether anything
// changed; LastTransitionTime moves only when the condition's status does.
func NewStatus(pod *v1.Pod, u StatusUpdate, now metav1.Time) (*v1.PodStatus, bool) {
	st := pod.Status.DeepCopy()
	changed := false
	if u.NominatedNodeName != nil && st.NominatedNodeName != *u.NominatedNodeName {
		st.NominatedNodeName = *u.NominatedNodeName
		changed = true
	}
	cond := u.Condition
	found := false
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != cond.Type {
			continue
		}
		found = true
		if c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message {
			break
		}
		if c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		} else {
			cond.LastTransitionTime = now
		}
		*c = cond
		changed = true
	}
	if !found {
		cond.LastTransitionTime = now
		st.Conditions = append(st.Conditions, cond)
		changed = true
	}
	return st, changed
}

// UpdateStatus writes u to pod's status with a strategic merge patch of
// pods/status computed against the pod as given, so that conditions
// others own are untouched; nothing is written when nothing changes.
func (b *Binder) UpdateStatus(ctx context.Context, pod *v1.Pod, u StatusUpdate) error {
	st, changed := NewStatus(pod, u, metav1.Now())
	if !changed {
		return nil
	}
	oldData, err := json.Marshal(v1.Pod{Status: pod.Status})
	if err != nil {
		return fmt.Errorf("update status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	newData, err := json.Marshal(v1.Pod{Status: *st})
	if err != nil {
		return fmt.Errorf("update status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, &v1.Pod{})
	if err != nil {
		return fmt.Errorf("update status of pod %s/%s: patch: %w", pod.Namespace, pod.Name, err)
	}
	if _, err := b.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("update status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// DeletePod deletes pod gracefully (its default grace period), as
// preemption does to a victim; the UID precondition spares a newer pod of
// the same name.
func (b *Binder) DeletePod(ctx context.Context, pod *v1.Pod) error {
	uid := pod.UID
	err := b.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
