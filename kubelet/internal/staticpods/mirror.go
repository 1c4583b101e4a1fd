package staticpods

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// MirrorPlan is what Mirrors does to bring the API's mirror pods in line
// with the static pods.
type MirrorPlan struct {
	// Delete are mirror pods to delete: of a static pod that is gone, of
	// an older manifest (their hash differs), or being deleted by someone
	// (a mirror pod is the kubelet's to delete).
	Delete []*v1.Pod
	// Create are static pods with no current mirror pod.
	Create []*v1.Pod
}

// PlanMirrors compares the static pods with the mirror pods the API has
// for the node, as Kubernetes' kubelet does in SyncPod (a mirror pod
// whose config.mirror is not the static pod's hash, or that is being
// deleted, is deleted and made anew) and HandlePodCleanups (mirror pods
// of no static pod are deleted).
func PlanMirrors(static, mirrors []*v1.Pod) MirrorPlan {
	var plan MirrorPlan
	byName := map[string]*v1.Pod{}
	for _, m := range mirrors {
		byName[m.Namespace+"/"+m.Name] = m
	}
	wanted := map[string]bool{}
	for _, p := range static {
		key := p.Namespace + "/" + p.Name
		wanted[key] = true
		m := byName[key]
		if m != nil && (m.DeletionTimestamp != nil || m.Annotations[ConfigMirrorAnnotationKey] != p.Annotations[ConfigHashAnnotationKey]) {
			plan.Delete = append(plan.Delete, m)
			m = nil
		}
		if m == nil {
			plan.Create = append(plan.Create, p)
		}
	}
	for _, m := range mirrors {
		if !wanted[m.Namespace+"/"+m.Name] {
			plan.Delete = append(plan.Delete, m)
		}
	}
	return plan
}

// MirrorPod makes the mirror pod of a static pod: the pod with the
// config.mirror annotation (its hash) and, so that it goes with the Node,
// a controller reference to it, as NodeRestriction wants it.
func MirrorPod(static *v1.Pod, node *v1.Node) *v1.Pod {
	m := static.DeepCopy()
	m.UID = ""
	m.ResourceVersion = ""
	m.Status = v1.PodStatus{}
	m.Annotations[ConfigMirrorAnnotationKey] = static.Annotations[ConfigHashAnnotationKey]
	m.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: ptr.To(true),
	}}
	return m
}

// Mirrors keeps the mirror pods of a node's static pods in the API.
type Mirrors struct {
	Client   kubernetes.Interface
	NodeName string
	Log      *zap.Logger

	mu   sync.Mutex
	node *v1.Node // the Node the mirror pods are owned by, looked up once
}

// Sync applies PlanMirrors. mirrors are the node's mirror pods as a
// cache has them: a pod it acts on may be gone already or made already,
// which is no error.
func (r *Mirrors) Sync(ctx context.Context, static, mirrors []*v1.Pod) error {
	plan := PlanMirrors(static, mirrors)
	var errs []error
	deleted := map[string]bool{}
	for _, m := range plan.Delete {
		err := r.Client.CoreV1().Pods(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &m.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete mirror pod %s/%s: %w", m.Namespace, m.Name, err))
			continue
		}
		deleted[m.Namespace+"/"+m.Name] = true
		r.log().Info("deleted mirror pod", zap.String("pod", m.Namespace+"/"+m.Name), zap.String("uid", string(m.UID)))
	}
	for _, p := range plan.Create {
		if err := r.create(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Mirrors) create(ctx context.Context, static *v1.Pod) error {
	node, err := r.nodeObject(ctx, false)
	if err != nil {
		return err
	}
	created, err := r.Client.CoreV1().Pods(static.Namespace).Create(ctx, MirrorPod(static, node), metav1.CreateOptions{})
	if apierrors.IsForbidden(err) {
		// The Node may have been made anew, with another UID.
		if node, err2 := r.nodeObject(ctx, true); err2 == nil {
			created, err = r.Client.CoreV1().Pods(static.Namespace).Create(ctx, MirrorPod(static, node), metav1.CreateOptions{})
		}
	}
	switch {
	case apierrors.IsAlreadyExists(err):
		// The cache was behind (made a moment ago), or the old one is
		// still going: the next sync sees which.
		return nil
	case err != nil:
		return fmt.Errorf("create mirror pod %s/%s: %w", static.Namespace, static.Name, err)
	}
	r.log().Info("created mirror pod", zap.String("pod", created.Namespace+"/"+created.Name),
		zap.String("uid", string(created.UID)), zap.String("hash", created.Annotations[ConfigMirrorAnnotationKey]))
	return nil
}

// nodeObject returns the node's Node, from the API the first time or
// when fresh.
func (r *Mirrors) nodeObject(ctx context.Context, fresh bool) (*v1.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.node != nil && !fresh {
		return r.node, nil
	}
	n, err := r.Client.CoreV1().Nodes().Get(ctx, r.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get node %s for mirror pods: %w", r.NodeName, err)
	}
	r.node = n
	return n, nil
}

func (r *Mirrors) log() *zap.Logger {
	if r.Log == nil {
		return zap.NewNop()
	}
	return r.Log
}

// IsMirrorOf reports whether mirror is the current mirror pod of static:
// of its name, with its hash, and not being deleted.
func IsMirrorOf(mirror, static *v1.Pod) bool {
	return mirror != nil && mirror.DeletionTimestamp == nil &&
		mirror.Namespace == static.Namespace && mirror.Name == static.Name &&
		mirror.Annotations[ConfigMirrorAnnotationKey] == static.Annotations[ConfigHashAnnotationKey]
}
