// Package pvcprotection is the PersistentVolumeClaim protection
// controller (Kubernetes' persistentvolumeclaim-protection-controller):
// a claim carries the kubernetes.io/pvc-protection finalizer, so that
// deleting it while a pod still uses it leaves it Terminating; the
// controller removes the finalizer, and lets the deletion finish, once no
// pod uses it any more.
package pvcprotection

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-helpers/storage/ephemeral"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "persistentvolumeclaim-protection-controller"

// Finalizer is the finalizer that keeps a claim in use from being removed.
const Finalizer = "kubernetes.io/pvc-protection"

// PodUsesClaim reports whether pod keeps claim from being removed: the
// pod is scheduled (the kubelet only sees scheduled pods, and starts none
// whose claim is being deleted) and one of its volumes is the claim —
// whatever its phase, as upstream: a finished pod holds its claims until
// it is deleted —: a persistentVolumeClaim volume
// naming it, or a generic ephemeral volume whose claim it is (same name
// and made for this pod) unless the pod has been shut down by the kubelet
// or force-deleted.
func PodUsesClaim(pod *corev1.Pod, claim *corev1.PersistentVolumeClaim) bool {
	if pod.Namespace != claim.Namespace || pod.Spec.NodeName == "" {
		return false
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim.Name {
			return true
		}
		if v.Ephemeral != nil && !podShutDown(pod) && ephemeral.VolumeClaimName(pod, v) == claim.Name && ephemeral.VolumeIsForPod(pod, claim) == nil {
			return true
		}
	}
	return false
}

// podShutDown reports whether the kubelet is done with pod (it asked for
// the deletion with no grace left) or it was force-deleted: it waits only
// for garbage collection, which may itself wait for the claim, so it must
// not hold the claim (Kubernetes' podIsShutDown).
func podShutDown(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds == 0
}

// Controller adds and removes the finalizer.
type Controller struct {
	*controller.Base
	client kubernetes.Interface
	claims corelisters.PersistentVolumeClaimLister
	pods   PodIndex
	log    *zap.Logger
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	claims := c.Informers.Core().V1().PersistentVolumeClaims()
	pods := c.Informers.Core().V1().Pods()
	index, err := NewPodIndex(pods.Informer())
	if err != nil {
		return nil, err
	}
	ctl := &Controller{client: c.Client, claims: claims.Lister(), pods: index, log: c.Log}
	ctl.Base = controller.NewBase(c, ctl.sync)
	enqueueClaim := func(pvc *corev1.PersistentVolumeClaim) {
		if needsFinalizer(pvc) || deletionCandidate(pvc) {
			ctl.Enqueue(controller.Key(pvc))
		}
	}
	if err := ctl.Watch(claims.Informer(), controller.Handlers[*corev1.PersistentVolumeClaim]{
		Add:    enqueueClaim,
		Update: func(_, pvc *corev1.PersistentVolumeClaim) { enqueueClaim(pvc) },
	}); err != nil {
		return nil, err
	}
	if err := ctl.Watch(pods.Informer(), controller.Handlers[*corev1.Pod]{
		Add: func(p *corev1.Pod) { ctl.enqueueClaimsOf(p, false) },
		Update: func(old, p *corev1.Pod) {
			ctl.enqueueClaimsOf(p, false)
			// An update may hide the deletion of one pod and the
			// creation of another of the same name: the old one's
			// claims may be free now.
			if old.UID != p.UID {
				ctl.enqueueClaimsOf(old, true)
			}
		},
		Delete: func(p *corev1.Pod) { ctl.enqueueClaimsOf(p, true) },
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

// enqueueClaimsOf queues the claims of a pod that may have stopped using
// them: deleted, shut down, or not scheduled. A pod that still exists on
// a node frees no claim.
func (c *Controller) enqueueClaimsOf(p *corev1.Pod, deleted bool) {
	if !deleted && p.Spec.NodeName != "" && !podShutDown(p) {
		return
	}
	for _, name := range ClaimNames(p) {
		c.Enqueue(p.Namespace + "/" + name)
	}
}

func needsFinalizer(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.DeletionTimestamp == nil && !slices.Contains(pvc.Finalizers, Finalizer)
}

func deletionCandidate(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.DeletionTimestamp != nil && slices.Contains(pvc.Finalizers, Finalizer)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	pvc, ok, err := controller.Get[*corev1.PersistentVolumeClaim](key, c.claims.PersistentVolumeClaims)
	if !ok {
		return err
	}
	switch {
	case deletionCandidate(pvc):
		used, err := c.inUse(ctx, pvc)
		if err != nil {
			return err
		}
		if used {
			c.log.Debug("keeping claim in use", zap.String("claim", key))
			return nil
		}
		return c.setFinalizer(ctx, pvc, false)
	case needsFinalizer(pvc):
		// The admission plugin adds the finalizer to new claims; this
		// covers claims made before it was on.
		return c.setFinalizer(ctx, pvc, true)
	}
	return nil
}

// inUse asks the informer's cache first: a pod found there settles it
// cheaply. Not finding one there is not proof (the pod may not have
// reached the cache yet), so before the claim may go, a live list of the
// namespace's pods must agree.
func (c *Controller) inUse(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (bool, error) {
	cached, err := c.pods.Using(pvc.Namespace, pvc.Name)
	if err != nil {
		return false, err
	}
	for _, p := range cached {
		if PodUsesClaim(p, pvc) {
			return true, nil
		}
	}
	live, err := c.client.CoreV1().Pods(pvc.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("live list of pods: %w", err)
	}
	for i := range live.Items {
		if PodUsesClaim(&live.Items[i], pvc) {
			return true, nil
		}
	}
	return false, nil
}

// setFinalizer adds or removes the finalizer.
func (c *Controller) setFinalizer(ctx context.Context, pvc *corev1.PersistentVolumeClaim, add bool) error {
	clone := pvc.DeepCopy()
	if add {
		clone.Finalizers = append(clone.Finalizers, Finalizer)
	} else {
		clone.Finalizers = slices.DeleteFunc(clone.Finalizers, func(f string) bool { return f == Finalizer })
	}
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, clone, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update finalizers of claim %s: %w", controller.Key(pvc), err)
	}
	if add {
		c.log.Debug("added protection finalizer to claim", zap.String("claim", controller.Key(pvc)))
	} else {
		c.log.Info("claim no longer in use; removed its protection finalizer", zap.String("claim", controller.Key(pvc)))
	}
	return nil
}
