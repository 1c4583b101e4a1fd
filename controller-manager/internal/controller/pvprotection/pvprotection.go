// Package pvprotection is the PersistentVolume protection controller
// (Kubernetes' persistentvolume-protection-controller): a volume carries
// the kubernetes.io/pv-protection finalizer, so that deleting it while
// it is bound to a claim leaves it Terminating; the controller removes
// the finalizer, and lets the deletion finish, once it is not Bound.
package pvprotection

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "persistentvolume-protection-controller"

// Finalizer is the finalizer that keeps a bound volume from being removed.
const Finalizer = "kubernetes.io/pv-protection"

// InUse reports whether pv must stay: the PV controller keeps its phase,
// and a Bound volume is some claim's.
func InUse(pv *corev1.PersistentVolume) bool {
	return pv.Status.Phase == corev1.VolumeBound
}

// Controller adds and removes the finalizer.
type Controller struct {
	*controller.Base
	client  kubernetes.Interface
	volumes corelisters.PersistentVolumeLister
	log     *zap.Logger
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	volumes := c.Informers.Core().V1().PersistentVolumes()
	ctl := &Controller{client: c.Client, volumes: volumes.Lister(), log: c.Log}
	ctl.Base = controller.NewBase(c, ctl.sync)
	enqueue := func(pv *corev1.PersistentVolume) {
		if needsFinalizer(pv) || deletionCandidate(pv) {
			ctl.Enqueue(pv.Name)
		}
	}
	return ctl, ctl.Watch(volumes.Informer(), controller.Handlers[*corev1.PersistentVolume]{
		Add:    enqueue,
		Update: func(_, pv *corev1.PersistentVolume) { enqueue(pv) },
	})
}

func needsFinalizer(pv *corev1.PersistentVolume) bool {
	return pv.DeletionTimestamp == nil && !slices.Contains(pv.Finalizers, Finalizer)
}

func deletionCandidate(pv *corev1.PersistentVolume) bool {
	return pv.DeletionTimestamp != nil && slices.Contains(pv.Finalizers, Finalizer)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case deletionCandidate(pv):
		if InUse(pv) {
			c.log.Debug("keeping bound volume", zap.String("volume", name))
			return nil
		}
		return c.setFinalizer(ctx, pv, false)
	case needsFinalizer(pv):
		// The admission plugin adds the finalizer to new volumes; this
		// covers volumes made before it was on.
		return c.setFinalizer(ctx, pv, true)
	}
	return nil
}

// setFinalizer adds or removes the finalizer.
func (c *Controller) setFinalizer(ctx context.Context, pv *corev1.PersistentVolume, add bool) error {
	clone := pv.DeepCopy()
	if add {
		clone.Finalizers = append(clone.Finalizers, Finalizer)
	} else {
		clone.Finalizers = slices.DeleteFunc(clone.Finalizers, func(f string) bool { return f == Finalizer })
	}
	if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, clone, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update finalizers of volume %s: %w", pv.Name, err)
	}
	if !add {
		c.log.Info("volume not bound; removed its protection finalizer", zap.String("volume", pv.Name))
	}
	return nil
}
