package persistentvolume

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
)

// Event reasons, Kubernetes' (pkg/controller/volume/events).
const (
	reasonFailedBinding        = "FailedBinding"
	reasonVolumeMismatch       = "VolumeMismatch"
	reasonVolumeFailedRecycle  = "VolumeFailedRecycle"
	reasonVolumeFailedDelete   = "VolumeFailedDelete"
	reasonExternalProvisioning = "ExternalProvisioning"
	reasonProvisioningFailed   = "ProvisioningFailed"
	reasonWaitForFirstConsumer = "WaitForFirstConsumer"
	reasonWaitForPodScheduled  = "WaitForPodScheduled"
)

// Annotations on StorageClasses and volumes the controller reads.
const (
	// annDefaultClass and annBetaDefaultClass mark the default
	// StorageClass.
	annDefaultClass     = "storageclass.kubernetes.io/is-default-class"
	annBetaDefaultClass = "storageclass.beta.kubernetes.io/is-default-class"
	// annPreResizeCapacity, on a volume being resized, is the capacity
	// its claim's status keeps until the file system is resized.
	annPreResizeCapacity = "volume.alpha.kubernetes.io/pre-resize-capacity"
)

// syncClaim decides what to do with a claim: one that has not completed
// binding yet (no bind-completed annotation) looks for a volume or asks
// for one; a bound one checks its volume still points back at it.
func (c *Controller) syncClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return c.syncUnboundClaim(ctx, claim)
	}
	return c.syncBoundClaim(ctx, claim)
}

// syncUnboundClaim handles a Pending claim.
func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" {
		return c.syncPreboundClaim(ctx, claim)
	}
	// The user does not care which volume they get.
	delayBinding, err := storagehelpers.IsDelayBindingMode(claim, c.classLister)
	if err != nil {
		return err
	}
	volume, err := c.volumes.findBestMatch(claim, delayBinding)
	if err != nil {
		return fmt.Errorf("find a volume for claim %s: %w", controller.Key(claim), err)
	}
	if volume != nil {
		// Found one: bind. On any error, the next sync finishes it.
		return c.bind(ctx, volume, claim)
	}
	// No volume fits. A claim with no class at all gets the default
	// class once there is one (Kubernetes' retroactive default); the
	// update brings it back here.
	assigned, err := c.assignDefaultStorageClass(ctx, claim)
	if err != nil || assigned {
		return err
	}
	switch {
	case delayBinding && !storagehelpers.IsDelayBindingProvisioning(claim):
		// WaitForFirstConsumer and the scheduler has not picked a node
		// for a pod using it yet.
		if err := c.emitWaitingForConsumer(claim); err != nil {
			return err
		}
	case storagehelpers.GetPersistentVolumeClaimClass(claim) != "":
		// Ask the class's provisioner; the claim binds once its volume
		// exists.
		return c.provisionClaim(ctx, claim)
	default:
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// syncPreboundClaim handles a Pending claim that names its volume.
func (c *Controller) syncPreboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	volume, found, err := c.volumes.get(claim.Spec.VolumeName)
	if err != nil {
		return err
	}
	switch {
	case !found:
		// The volume does not exist (yet): try again later.
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	case volume.Spec.ClaimRef == nil:
		// The volume is free: bind, if it fits.
		if err := checkVolumeSatisfiesClaim(volume, claim); err != nil {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonVolumeMismatch, fmt.Sprintf("Cannot bind to requested volume %q: %s", volume.Name, err))
			_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
			return err
		}
		return c.bind(ctx, volume, claim)
	case storagehelpers.IsVolumeBoundToClaim(volume, claim):
		// The volume is (pre-)bound to this claim: finish the binding.
		return c.bind(ctx, volume, claim)
	case !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController):
		// The user asked for a volume that is someone else's: wait.
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonFailedBinding, fmt.Sprintf("volume %q already bound to a different claim.", volume.Name))
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	default:
		// The controller bound this claim to a volume that is someone
		// else's: only a removed bind-completed annotation leads here.
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonFailedBinding, fmt.Sprintf("volume %q already bound to a different claim.", volume.Name))
		return fmt.Errorf("invalid binding of claim %s to volume %q: volume already claimed by %s/%s", controller.Key(claim), claim.Spec.VolumeName, volume.Spec.ClaimRef.Namespace, volume.Spec.ClaimRef.Name)
	}
}

// syncBoundClaim handles a claim that completed binding once.
func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		_, err := c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
		return err
	}
	volume, found, err := c.volumes.get(claim.Spec.VolumeName)
	if err != nil {
		return err
	}
	switch {
	case !found:
		_, err := c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
		return err
	case volume.Spec.ClaimRef == nil, volume.Spec.ClaimRef.UID == claim.UID:
		// Either the volume came unbound (or its update has not reached
		// the controller yet: the two cannot be told apart) or all is
		// well; bind sets whatever is missing, and nothing otherwise.
		return c.bind(ctx, volume, claim)
	default:
		// The volume is bound to another claim: this one is Lost for good.
		_, err := c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")
		return err
	}
}

// checkVolumeSatisfiesClaim says why volume cannot serve claim, which
// names it; nil if it can.
func checkVolumeSatisfiesClaim(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	if volume.DeletionTimestamp != nil {
		return fmt.Errorf("the volume is marked for deletion %q", volume.Name)
	}
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := volume.Spec.Capacity[corev1.ResourceStorage]
	if capacity.Value() < requested.Value() {
		return fmt.Errorf("requested PV is too small")
	}
	if storagehelpers.GetPersistentVolumeClass(volume) != storagehelpers.GetPersistentVolumeClaimClass(claim) {
		return fmt.Errorf("storageClassName does not match")
	}
	if ptr.Deref(claim.Spec.VolumeAttributesClassName, "") != ptr.Deref(volume.Spec.VolumeAttributesClassName, "") {
		return fmt.Errorf("volumeAttributesClassName does not match")
	}
	if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
		return fmt.Errorf("incompatible volumeMode")
	}
	if !storagehelpers.CheckAccessModes(claim, volume) {
		return fmt.Errorf("incompatible accessMode")
	}
	return nil
}

// emitWaitingForConsumer tells the user why a WaitForFirstConsumer
// claim waits: for a pod to use it, or for the pods that do to be
// scheduled.
func (c *Controller) emitWaitingForConsumer(claim *corev1.PersistentVolumeClaim) error {
	pods, err := c.pods.Using(claim.Namespace, claim.Name)
	if err != nil {
		return err
	}
	var unscheduled []string
	for _, p := range pods {
		if !podTerminated(p) && p.Spec.NodeName == "" {
			unscheduled = append(unscheduled, p.Name)
		}
	}
	switch len(unscheduled) {
	case 0:
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonWaitForFirstConsumer, "waiting for first consumer to be created before binding")
	case 1:
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonWaitForPodScheduled, fmt.Sprintf("waiting for pod %s to be scheduled", unscheduled[0]))
	default:
		// Only one pod counts for scheduling, but which one cannot be
		// known: all are named.
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonWaitForPodScheduled, fmt.Sprintf("waiting for pods %s to be scheduled", strings.Join(unscheduled, ",")))
	}
	return nil
}

// podTerminated is Kubernetes' IsPodTerminated: finished, or being
// deleted with no container running.
func podTerminated(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return true
	}
	if p.DeletionTimestamp == nil {
		return false
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for _, s := range list {
			if s.State.Terminated == nil && s.State.Waiting == nil {
				return false
			}
		}
	}
	return true
}

// provisionClaim asks for a volume for claim. Coracle's controller has no
// in-tree volume plugins, so every provisioner is external (as CSI
// drivers and k3s's local-path are in Kubernetes): the claim is annotated
// with the class's provisioner, which that provisioner watches for, and
// an event says so. A class named kubernetes.io/... would need an in-tree
// plugin: that fails as in Kubernetes without the plugin. A class that
// does not exist fails with the API's not-found message. Both are retried
// at every sync, as in Kubernetes.
func (c *Controller) provisionClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	class, err := c.classLister.Get(storagehelpers.GetPersistentVolumeClaimClass(claim))
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, err.Error())
		c.log.Debug("no provisioner for claim", zap.String("claim", controller.Key(claim)), zap.Error(err))
		return nil
	}
	if strings.HasPrefix(class.Provisioner, "kubernetes.io/") {
		msg := fmt.Sprintf("no volume plugin matched name: %s", class.Provisioner)
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, msg)
		return nil
	}
	claim, err = c.setClaimProvisioner(ctx, claim, class.Provisioner)
	if err != nil {
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("Error saving claim: %v", err))
		return err
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, reasonExternalProvisioning, fmt.Sprintf("Waiting for a volume to be created either by the external provisioner '%s' "+
		"or manually by the system administrator. If volume creation is delayed, please verify that "+
		"the provisioner is running and correctly registered.", class.Provisioner))
	return nil
}

// setClaimProvisioner annotates claim with the provisioner that is to
// make its volume (and the beta annotation, which older provisioners
// watch).
func (c *Controller) setClaimProvisioner(ctx context.Context, claim *corev1.PersistentVolumeClaim, provisioner string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] == provisioner && claim.Annotations[storagehelpers.AnnBetaStorageProvisioner] == provisioner {
		return claim, nil
	}
	clone := claim.DeepCopy()
	metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, provisioner)
	metav1.SetMetaDataAnnotation(&clone.ObjectMeta, storagehelpers.AnnStorageProvisioner, provisioner)
	updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return claim, err
	}
	c.storeClaim(updated)
	return updated, nil
}

// assignDefaultStorageClass gives a claim with no storageClassName at all
// (nil, not "") the default class, if there is one; true if it did.
func (c *Controller) assignDefaultStorageClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) (bool, error) {
	if claim.Spec.StorageClassName != nil || metav1.HasAnnotation(claim.ObjectMeta, corev1.BetaStorageClassAnnotation) {
		return false, nil
	}
	classes, err := c.classLister.List(labels.Everything())
	if err != nil {
		return false, err
	}
	def := defaultClass(classes)
	if def == nil {
		return false, nil
	}
	clone := claim.DeepCopy()
	clone.Spec.StorageClassName = &def.Name
	updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return false, fmt.Errorf("assign default storage class %q: %w", def.Name, err)
	}
	c.storeClaim(updated)
	c.log.Info("assigned the default storage class to claim", zap.String("claim", controller.Key(claim)), zap.String("class", def.Name))
	return true, nil
}

// defaultClass is Kubernetes' choice among the classes annotated
// default: the newest, then the first by name; nil if none is.
func defaultClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var best *storagev1.StorageClass
	for _, sc := range classes {
		if sc.Annotations[annDefaultClass] != "true" && sc.Annotations[annBetaDefaultClass] != "true" {
			continue
		}
		if best == nil {
			best = sc
			continue
		}
		t, bt := sc.CreationTimestamp.UnixNano(), best.CreationTimestamp.UnixNano()
		if t > bt || (t == bt && sc.Name < best.Name) {
			best = sc
		}
	}
	return best
}
