package persistentvolume

import (
	"context"
	"fmt"
	"reflect"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"coracle.dev/controller-manager/internal/controller"
)

// bind binds volume and claim to each other, in Kubernetes' order: the
// volume's claimRef, the volume's phase, the claim's volumeName and
// annotations, the claim's phase. It stops at the first error; the next
// sync of either object picks up where it stopped. Each write is at the
// version last seen, so when two syncs race for one volume the API
// refuses the second claimRef with a conflict and the loser looks again.
func (c *Controller) bind(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	var err error
	if volume, err = c.bindVolumeToClaim(ctx, volume, claim); err != nil {
		return fmt.Errorf("save volume %s: %w", volume.Name, err)
	}
	if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeBound, ""); err != nil {
		return fmt.Errorf("save volume %s status: %w", volume.Name, err)
	}
	if claim, err = c.bindClaimToVolume(ctx, claim, volume); err != nil {
		return fmt.Errorf("save claim %s: %w", controller.Key(claim), err)
	}
	if _, err = c.updateClaimStatus(ctx, claim, corev1.ClaimBound, volume); err != nil {
		return fmt.Errorf("save claim %s status: %w", controller.Key(claim), err)
	}
	return nil
}

// bindVolumeToClaim points volume's claimRef at claim (with its UID),
// marking the binding as the controller's unless the user pre-bound the
// volume; it writes only if something changed. The volume passed back
// is the one saved, or volume on error.
func (c *Controller) bindVolumeToClaim(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	clone, dirty, err := storagehelpers.GetBindVolumeToClaim(volume, claim)
	if err != nil || !dirty {
		return volume, err
	}
	updated, err := c.client.CoreV1().PersistentVolumes().Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return volume, err
	}
	c.storeVolume(updated)
	c.log.Info("volume bound to claim", zap.String("volume", volume.Name), zap.String("claim", controller.Key(claim)))
	return updated, nil
}

// bindClaimToVolume sets claim's volumeName (marked as the controller's
// binding unless the user named the volume) and the bind-completed
// annotation; it writes only if something changed.
func (c *Controller) bindClaimToVolume(ctx context.Context, claim *corev1.PersistentVolumeClaim, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	clone := claim.DeepCopy()
	dirty := false
	if claim.Spec.VolumeName != volume.Name {
		clone.Spec.VolumeName = volume.Name
		if !metav1.HasAnnotation(clone.ObjectMeta, storagehelpers.AnnBoundByController) {
			metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
		}
		dirty = true
	}
	if !metav1.HasAnnotation(clone.ObjectMeta, storagehelpers.AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
		dirty = true
	}
	if !dirty {
		return claim, nil
	}
	updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return claim, err
	}
	c.storeClaim(updated)
	c.log.Info("claim bound to volume", zap.String("claim", controller.Key(claim)), zap.String("volume", volume.Name))
	return updated, nil
}

// claimStatus is the status claim should have in phase, bound to volume
// (nil: to none), and whether that differs from what it has. A claim
// becoming Bound takes the volume's capacity (or the capacity before a
// pending resize); one already Bound keeps its own, since a difference
// can be deliberate (a file system smaller than its block device). It
// takes the volume's attributes class only as it binds: afterwards that
// field is the resizer's.
func claimStatus(claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume) (corev1.PersistentVolumeClaimStatus, bool, error) {
	status := *claim.Status.DeepCopy()
	dirty := false
	if status.Phase != phase {
		status.Phase = phase
		dirty = true
	}
	if volume == nil {
		if status.AccessModes != nil || status.Capacity != nil || status.CurrentVolumeAttributesClassName != nil {
			status.AccessModes, status.Capacity, status.CurrentVolumeAttributesClassName = nil, nil, nil
			dirty = true
		}
		return status, dirty, nil
	}
	if !reflect.DeepEqual(status.AccessModes, volume.Spec.AccessModes) {
		status.AccessModes = volume.Spec.AccessModes
		dirty = true
	}
	if claim.Status.Phase != phase {
		volumeCap, ok := volume.Spec.Capacity[corev1.ResourceStorage]
		if !ok {
			return status, false, fmt.Errorf("PersistentVolume %q is without a storage capacity", volume.Name)
		}
		claimCap, had := claim.Status.Capacity[corev1.ResourceStorage]
		if pre, ok := volume.Annotations[annPreResizeCapacity]; ok {
			q, err := resource.ParseQuantity(pre)
			if err != nil {
				q = volumeCap
			}
			status.Capacity = corev1.ResourceList{corev1.ResourceStorage: q}
			dirty = true
		} else if !had || volumeCap.Cmp(claimCap) != 0 {
			status.Capacity = volume.Spec.Capacity
			dirty = true
		}
	}
	if claim.Status.Phase == corev1.ClaimPending && phase == corev1.ClaimBound &&
		!reflect.DeepEqual(status.CurrentVolumeAttributesClassName, volume.Spec.VolumeAttributesClassName) {
		status.CurrentVolumeAttributesClassName = volume.Spec.VolumeAttributesClassName
		dirty = true
	}
	return status, dirty, nil
}

// updateClaimStatus saves claim's status for phase and volume, if it
// changes.
func (c *Controller) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	status, dirty, err := claimStatus(claim, phase, volume)
	if err != nil || !dirty {
		return claim, err
	}
	clone := claim.DeepCopy()
	clone.Status = status
	updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return claim, err
	}
	c.storeClaim(updated)
	if claim.Status.Phase != phase {
		c.log.Info("claim entered phase", zap.String("claim", controller.Key(claim)), zap.String("phase", string(phase)))
	}
	return updated, nil
}

// updateClaimStatusWithEvent is updateClaimStatus that also records an
// event, only when the phase changes (not at every sync).
func (c *Controller) updateClaimStatusWithEvent(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume, eventType, reason, message string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Status.Phase == phase {
		return claim, nil
	}
	updated, err := c.updateClaimStatus(ctx, claim, phase, volume)
	if err != nil {
		return nil, err
	}
	c.recorder.Event(updated, eventType, reason, message)
	return updated, nil
}

// updateVolumePhase saves volume's phase and message, if the phase
// changes.
func (c *Controller) updateVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	clone := volume.DeepCopy()
	clone.Status.Phase = phase
	clone.Status.Message = message
	updated, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return volume, err
	}
	c.storeVolume(updated)
	c.log.Info("volume entered phase", zap.String("volume", volume.Name), zap.String("phase", string(phase)))
	return updated, nil
}

// updateVolumePhaseWithEvent is updateVolumePhase that also records an
// event, only when the phase changes.
func (c *Controller) updateVolumePhaseWithEvent(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, eventType, reason, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	updated, err := c.updateVolumePhase(ctx, volume, phase, message)
	if err != nil {
		return nil, err
	}
	c.recorder.Event(updated, eventType, reason, message)
	return updated, nil
}
