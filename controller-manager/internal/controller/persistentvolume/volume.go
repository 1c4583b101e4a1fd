package persistentvolume

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// syncVolume decides what to do with a volume.
func (c *Controller) syncVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Unused, or reserved for a claim (pre-bound by the user) that
		// has not bound to it yet, which that claim's sync does.
		_, err := c.updateVolumePhase(ctx, volume, corev1.VolumeAvailable, "")
		return err
	}
	claim, err := c.claimOf(ctx, volume)
	if err != nil {
		return err
	}
	switch {
	case claim == nil:
		// The claim is gone: the volume is Released (once; a Failed
		// volume stays Failed, so the user sees what went wrong) and its
		// reclaim policy applies.
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			c.log.Info("volume released", zap.String("volume", volume.Name), zap.String("reclaimPolicy", string(volume.Spec.PersistentVolumeReclaimPolicy)))
			if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaimVolume(ctx, volume)
	case claim.Spec.VolumeName == "":
		if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
			// The claim will never bind to it: say so on both.
			c.recorder.Event(volume, corev1.EventTypeWarning, reasonVolumeMismatch, fmt.Sprintf("Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", claim.Name))
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonVolumeMismatch, fmt.Sprintf("Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", volume.Name))
			return nil
		}
		// The volume points at the claim, which does not point back yet:
		// a binding in progress, a provisioned volume, or one the
		// scheduler pre-bound. The claim's sync finishes it; queue it now
		// rather than wait for the resync.
		c.Enqueue(claim.Namespace + "/" + claim.Name)
		return nil
	case claim.Spec.VolumeName == volume.Name:
		// Bound both ways.
		_, err := c.updateVolumePhase(ctx, volume, corev1.VolumeBound, "")
		return err
	case metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned) && volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Provisioned for this claim, which bound to another volume
		// meanwhile: it is not needed, release and delete it.
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			c.log.Info("provisioned volume not needed; released", zap.String("volume", volume.Name))
			if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaimVolume(ctx, volume)
	default:
		// The claim is bound to another volume. If the controller bound
		// this one (it lost a race), undo that; if the user pre-bound it,
		// keep it reserved for the claim but drop the claim's UID.
		return c.unbindVolume(ctx, volume)
	}
}

// claimOf returns the claim volume is bound to, nil if that claim no
// longer exists (a claim of the same name but another UID is another
// claim). A claim not in the controller's cache may just not have
// arrived yet (a provisioner or the scheduler wrote the volume first):
// before releasing a volume it asks the informer, then the API.
func (c *Controller) claimOf(ctx context.Context, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := volume.Spec.ClaimRef
	var claim *corev1.PersistentVolumeClaim
	obj, found, err := c.claims.GetByKey(ref.Namespace + "/" + ref.Name)
	if err != nil {
		return nil, err
	}
	if found {
		claim, _ = obj.(*corev1.PersistentVolumeClaim)
	} else if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
		claim, err = c.claimLister.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		}
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if claim != nil && claim.UID != ref.UID {
		// The cached claim may be older than the volume's reference:
		// ask the API which claim of that name exists now.
		claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if claim.UID != ref.UID {
			// The volume's claim was deleted and another made with
			// its name.
			return nil, nil
		}
	}
	return claim, nil
}

// reclaimVolume applies a Released volume's reclaim policy.
func (c *Controller) reclaimVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	if volume.Annotations[storagehelpers.AnnMigratedTo] != "" {
		// A CSI driver handles this volume.
		return nil
	}
	switch volume.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		// The volume and its data stay, Released: it is never bound
		// again until an administrator clears its claimRef.
		return nil
	case corev1.PersistentVolumeReclaimRecycle:
		return c.recycleVolume(ctx, volume)
	case corev1.PersistentVolumeReclaimDelete:
		return c.deleteVolume(ctx, volume)
	default:
		_, err := c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy")
		return err
	}
}

// recycleVolume would scrub a Released volume and make it Available
// again. Kubernetes does so with a recycler pod for the in-tree plugins
// that support it; Coracle has no recycler (Recycle is deprecated), so
// the volume fails as it does in Kubernetes for a volume no plugin
// recycles, unless pods still use it (then it waits, with an event).
func (c *Controller) recycleVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	released, err := c.isVolumeReleased(volume)
	if err != nil || !released {
		return err
	}
	ref := volume.Spec.ClaimRef
	pods, err := c.pods.Using(ref.Namespace, ref.Name)
	if err != nil {
		return err
	}
	var using []string
	for _, p := range pods {
		if !podTerminated(p) {
			using = append(using, p.Namespace+"/"+p.Name)
		}
	}
	if _, claimCached, err := c.claims.GetByKey(ref.Namespace + "/" + ref.Name); err != nil {
		return err
	} else if len(using) > 0 && !claimCached {
		c.recorder.Event(volume, corev1.EventTypeNormal, reasonVolumeFailedRecycle, fmt.Sprintf("Volume is used by pods: %s", strings.Join(using, ",")))
		return nil
	}
	_, err = c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeFailedRecycle, "No recycler plugin found for the volume!")
	return err
}

// deleteVolume handles a Released volume whose policy is Delete. Its
// deleter is the plugin that provisioned it: an external provisioner
// (one whose name is not kubernetes.io/...), or a CSI driver, deletes the
// volume and then the object itself, so the controller leaves it alone.
// Anything else would need an in-tree deleter, which Coracle's
// controller does not have: the volume is Failed with Kubernetes'
// message for a volume no plugin deletes.
func (c *Controller) deleteVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	err := findDeleter(volume)
	if err == nil {
		c.log.Debug("external deleter for volume requested", zap.String("volume", volume.Name))
		return nil
	}
	_, uerr := c.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, reasonVolumeFailedDelete, err.Error())
	return uerr
}

// findDeleter returns nil if an external deleter owns volume, or why no
// plugin can delete it.
func findDeleter(volume *corev1.PersistentVolume) error {
	if by := volume.Annotations[storagehelpers.AnnDynamicallyProvisioned]; by != "" {
		if !strings.HasPrefix(by, "kubernetes.io/") {
			return nil
		}
		return fmt.Errorf("no volume plugin matched name: %s", by)
	}
	if metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnMigratedTo) || volume.Spec.CSI != nil {
		return nil
	}
	return fmt.Errorf("error getting deleter volume plugin for volume %q: no volume plugin matched", volume.Name)
}

// isVolumeReleased reports whether volume is bound to a claim that is
// gone, or that is bound to another volume: then it may be reclaimed.
func (c *Controller) isVolumeReleased(volume *corev1.PersistentVolume) (bool, error) {
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		return false, nil
	}
	obj, found, err := c.claims.GetByKey(ref.Namespace + "/" + ref.Name)
	if err != nil {
		return false, err
	}
	if !found {
		return true, nil
	}
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || claim.UID != ref.UID {
		return true, nil
	}
	return claim.Spec.VolumeName != "" && claim.Spec.VolumeName != volume.Name, nil
}

// unbindVolume rolls a binding of volume back: one the controller made
// is removed entirely, one the user made (pre-bound) keeps the claim's
// name but loses its UID; the volume is Available again.
func (c *Controller) unbindVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	clone := volume.DeepCopy()
	if metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnBoundByController) {
		clone.Spec.ClaimRef = nil
		delete(clone.Annotations, storagehelpers.AnnBoundByController)
		if len(clone.Annotations) == 0 {
			clone.Annotations = nil
		}
	} else {
		clone.Spec.ClaimRef.UID = ""
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	c.storeVolume(updated)
	c.log.Info("volume unbound", zap.String("volume", volume.Name))
	_, err = c.updateVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
	return err
}
