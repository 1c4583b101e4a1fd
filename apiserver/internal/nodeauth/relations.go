package nodeauth

import (
	"iter"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// objectKind is a kind of object the Node authorizer relates to nodes,
// Kubernetes' graph vertex types.
type objectKind int

const (
	kindPod objectKind = iota
	kindSecret
	kindConfigMap
	kindPVC
	kindPV
	kindServiceAccount
	kindResourceClaim
	// kindUnserved stands for the kinds Kubernetes' graph relates to
	// nodes that Coracle does not serve (VolumeAttachments): no object of
	// them exists, so none is related to any node.
	kindUnserved
)

// relations answers whether an object is related to a node, the question
// Kubernetes answers by walking its graph:
//
//	node <- pod
//	node <- pod <- secret, configmap, serviceaccount, pvc, resourceclaim
//	node <- pod <- pvc <- pv
//	node <- pod <- pvc <- pv <- secret
//
// from the watch caches, starting at the node's pods. A mirror pod
// relates only itself to its node.
type relations struct {
	pods    Pods
	volumes Volumes
}

// related reports whether the object of kind in namespace (empty for a
// PersistentVolume) named name is reachable from a pod bound to node.
func (r *relations) related(node string, kind objectKind, namespace, name string) (bool, error) {
	switch kind {
	case kindPod:
		pod, err := r.pods.Pod(namespace, name)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return pod.Spec.NodeName == node, nil
	case kindPV:
		return r.pvRelated(node, name)
	case kindUnserved:
		return false, nil
	}
	pods, err := r.pods.PodsOnNode(node)
	if err != nil {
		return false, err
	}
	for _, pod := range pods {
		if pod.Namespace != namespace || isMirrorPod(pod) {
			continue
		}
		if podReferences(pod, kind, name) {
			return true, nil
		}
	}
	if kind == kindSecret {
		return r.secretRelatedThroughPV(node, pods, namespace, name)
	}
	return false, nil
}

// podReferences reports whether pod itself references the object of kind
// named name in its namespace.
func podReferences(pod *corev1.Pod, kind objectKind, name string) bool {
	switch kind {
	case kindSecret:
		return contains(podSecretNames(pod), name)
	case kindConfigMap:
		return contains(podConfigMapNames(pod), name)
	case kindPVC:
		return contains(podClaimNames(pod), name)
	case kindServiceAccount:
		return pod.Spec.ServiceAccountName == name
	case kindResourceClaim:
		return contains(podResourceClaimNames(pod), name)
	}
	return false
}

func contains(names iter.Seq[string], name string) bool {
	for n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// pvRelated reports whether the claim the PersistentVolume is bound to
// (its spec.claimRef, as Kubernetes' graph has it) is mounted by a pod on
// node.
func (r *relations) pvRelated(node, name string) (bool, error) {
	pv, err := r.volumes.PersistentVolume(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		return false, nil
	}
	return r.related(node, kindPVC, ref.Namespace, ref.Name)
}

// secretRelatedThroughPV reports whether a PersistentVolume mounted by
// one of pods names the Secret namespace/name for the kubelet (a CSI
// node-publish secret, an RBD key, ...). A claim leads to its volume
// through the claim's spec.volumeName, and the volume must be bound back
// to that claim: Kubernetes' graph follows the volume's claimRef alone,
// which differs only while a binding is half written, when no kubelet
// can mount the volume yet.
func (r *relations) secretRelatedThroughPV(node string, pods []*corev1.Pod, namespace, name string) (bool, error) {
	for _, pod := range pods {
		if isMirrorPod(pod) {
			continue
		}
		for claim := range podClaimNames(pod) {
			pv, err := r.boundVolume(pod.Namespace, claim)
			if err != nil {
				return false, err
			}
			if pv == nil {
				continue
			}
			for ref := range pvSecretRefs(pv) {
				if ref.kubeletVisible && ref.namespace == namespace && ref.name == name {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// boundVolume returns the PersistentVolume the claim namespace/name is
// bound to, or nil when the claim or its volume is missing or the two do
// not name each other.
func (r *relations) boundVolume(namespace, claim string) (*corev1.PersistentVolume, error) {
	pvc, err := r.volumes.PersistentVolumeClaim(namespace, claim)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if pvc.Spec.VolumeName == "" {
		return nil, nil
	}
	pv, err := r.volumes.PersistentVolume(pvc.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != namespace || ref.Name != claim {
		return nil, nil
	}
	return pv, nil
}
