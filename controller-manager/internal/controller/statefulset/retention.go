package statefulset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A StatefulSet's persistentVolumeClaimRetentionPolicy says what becomes
// of the claims made from its volumeClaimTemplates (Kubernetes'
// StatefulSetAutoDeletePVC, GA). The controller does not delete claims
// itself: it gives each claim owner references, and the garbage
// collector deletes the claim once its owner is gone.
//
//	whenScaled \ whenDeleted   Retain                Delete
//	Retain                     no reference          the set
//	Delete                     the pod, if condemned the pod if condemned,
//	                                                 else the set
//
// A condemned pod is one whose ordinal is beyond the set's range, being
// scaled down: its claims follow it. The references are controller
// references, as Kubernetes makes them, so that no other controller
// adopts the claims; a claim with another controller is left to it.

var podKind = corev1.SchemeGroupVersion.WithKind("Pod")

const (
	retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
)

// ReasonConflictingController is the warning event on a set one of whose
// claims is controlled by another object, so its policy is not applied.
const ReasonConflictingController = "ConflictingController"

// retentionPolicy is set's claim retention policy: Retain for both when
// unset (the apiserver defaults it so).
func retentionPolicy(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		return *p
	}
	return appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: retain, WhenScaled: retain}
}

// inRange reports whether pod's ordinal is within set's replicas; a pod
// outside it is condemned.
func inRange(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	i := Ordinal(set, pod)
	return i >= start(set) && i < start(set)+replicas(set)
}

// matchesRef reports whether ref names obj (name and kind; not the UID).
func matchesRef(ref *metav1.OwnerReference, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	return ref.APIVersion == gvk.GroupVersion().String() && ref.Kind == gvk.Kind && ref.Name == obj.GetName()
}

// hasOwnerRef reports whether target has a reference to owner's UID,
// controller or not.
func hasOwnerRef(target, owner metav1.Object) bool {
	for _, ref := range target.GetOwnerReferences() {
		if ref.UID == owner.GetUID() {
			return true
		}
	}
	return false
}

// hasStaleOwnerRef reports whether claim's reference to obj's name and
// kind is to an older object of that name: another UID.
func hasStaleOwnerRef(claim *corev1.PersistentVolumeClaim, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	for i := range claim.OwnerReferences {
		if ref := &claim.OwnerReferences[i]; matchesRef(ref, obj, gvk) {
			return ref.UID != obj.GetUID()
		}
	}
	return false
}

// hasUnexpectedController reports whether, under a policy that deletes
// claims, claim has a controller other than set and pod, or a reference
// to an older set or pod of their names (its objects were orphaned
// wrongly: the garbage collector, not this controller, is to clean it
// up). Under Retain/Retain any controller may manage the claims.
func hasUnexpectedController(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	p := retentionPolicy(set)
	if p.WhenScaled == retain && p.WhenDeleted == retain {
		return false
	}
	for i := range claim.OwnerReferences {
		ref := &claim.OwnerReferences[i]
		switch {
		case matchesRef(ref, set, kind):
			if ref.UID != set.UID {
				return true
			}
		case matchesRef(ref, pod, podKind):
			if ref.UID != pod.UID {
				return true
			}
		case ref.Controller != nil && *ref.Controller:
			return true
		}
	}
	return false
}

// hasNonControllerOwner reports whether set or pod owns claim by a
// reference that is not a controller's: one made before Kubernetes made
// them controller references, to be replaced.
func hasNonControllerOwner(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	for _, ref := range claim.OwnerReferences {
		if (ref.UID == set.UID || ref.UID == pod.UID) && (ref.Controller == nil || !*ref.Controller) {
			return true
		}
	}
	return false
}

// wantedOwners are the owners claim of pod should have under set's
// policy: whether the set, and whether the pod.
func wantedOwners(set *appsv1.StatefulSet, pod *corev1.Pod) (bySet, byPod bool) {
	p := retentionPolicy(set)
	scaledDown := !inRange(set, pod)
	switch {
	case p.WhenScaled == retain && p.WhenDeleted == del:
		return true, false
	case p.WhenScaled == del && p.WhenDeleted == retain:
		return false, scaledDown
	case p.WhenScaled == del && p.WhenDeleted == del:
		return !scaledDown, scaledDown
	default:
		// Retain/Retain, and (validation allows no other) any value
		// unknown: nothing is deleted.
		return false, false
	}
}

// isClaimOwnerUpToDate reports whether claim's references to set and pod
// are as set's policy wants (Kubernetes' isClaimOwnerUpToDate). A claim
// with a reference to an older set or pod of those names is left alone,
// as is one with another controller and no reference to set or pod.
func isClaimOwnerUpToDate(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if hasStaleOwnerRef(claim, set, kind) || hasStaleOwnerRef(claim, pod, podKind) {
		// A previous set or pod of the same name manages it.
		return true
	}
	if hasUnexpectedController(claim, set, pod) {
		// Our references, if any, are to be removed; no more added.
		return !hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod)
	}
	if hasNonControllerOwner(claim, set, pod) {
		return false
	}
	bySet, byPod := wantedOwners(set, pod)
	return hasOwnerRef(claim, set) == bySet && hasOwnerRef(claim, pod) == byPod
}

// updateClaimOwnerRefForSetAndPod sets claim's references to set and pod
// as set's policy wants (Kubernetes' updateClaimOwnerRefForSetAndPod):
// it removes every reference to their names, then, unless another object
// controls the claim, adds controller references to the owners wanted.
// Other owners' references are kept.
func updateClaimOwnerRefForSetAndPod(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) {
	unexpected := hasUnexpectedController(claim, set, pod)
	refs := []metav1.OwnerReference{}
	for _, ref := range claim.OwnerReferences {
		if !matchesRef(&ref, set, kind) && !matchesRef(&ref, pod, podKind) {
			refs = append(refs, ref)
		}
	}
	if !unexpected {
		bySet, byPod := wantedOwners(set, pod)
		if byPod {
			refs = append(refs, *metav1.NewControllerRef(pod, podKind))
		}
		if bySet {
			refs = append(refs, *metav1.NewControllerRef(set, kind))
		}
	}
	claim.OwnerReferences = refs
}

// podClaimIsStale reports whether claim, one of pod's about to be
// created, belongs to an older pod of its name (Kubernetes'
// PodClaimIsStale): under whenScaled Delete, a pod scaled down and up
// again before the garbage collector has deleted its claims. The pod
// waits for the claim to go rather than start on a claim being deleted.
// Under whenScaled Retain claims are kept to be reused, never stale.
func podClaimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim) bool {
	if retentionPolicy(set).WhenScaled == retain {
		return false
	}
	return hasStaleOwnerRef(claim, pod, podKind)
}
