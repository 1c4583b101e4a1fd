package nodeauth

import (
	"fmt"
	"iter"

	corev1 "k8s.io/api/core/v1"
)

// The references from a pod and a PersistentVolume to other API objects,
// as Kubernetes' podutil.VisitPodSecretNames, VisitPodConfigmapNames and
// pvutil.VisitPVSecretNames: what a kubelet needs to read to run the pod,
// and so what the Node authorizer lets it read. Empty names are skipped.

// containerEnvs yields the env and envFrom of every container, init
// container and ephemeral container of spec.
func containerEnvs(spec *corev1.PodSpec) iter.Seq2[[]corev1.EnvVar, []corev1.EnvFromSource] {
	return func(yield func([]corev1.EnvVar, []corev1.EnvFromSource) bool) {
		for i := range spec.InitContainers {
			if !yield(spec.InitContainers[i].Env, spec.InitContainers[i].EnvFrom) {
				return
			}
		}
		for i := range spec.Containers {
			if !yield(spec.Containers[i].Env, spec.Containers[i].EnvFrom) {
				return
			}
		}
		for i := range spec.EphemeralContainers {
			if !yield(spec.EphemeralContainers[i].Env, spec.EphemeralContainers[i].EnvFrom) {
				return
			}
		}
	}
}

// podSecretNames yields the name of every Secret pod references: image
// pull secrets, env and envFrom, and volumes (secret, projected secrets,
// and the secretRefs of the volume plugins that take one).
func podSecretNames(pod *corev1.Pod) iter.Seq[string] {
	return func(yield func(string) bool) {
		y := skipEmpty(yield)
		for _, ref := range pod.Spec.ImagePullSecrets {
			if !y(ref.Name) {
				return
			}
		}
		for env, envFrom := range containerEnvs(&pod.Spec) {
			for _, e := range envFrom {
				if e.SecretRef != nil && !y(e.SecretRef.Name) {
					return
				}
			}
			for _, e := range env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !y(e.ValueFrom.SecretKeyRef.Name) {
					return
				}
			}
		}
		for i := range pod.Spec.Volumes {
			if !volumeSecretNames(&pod.Spec.Volumes[i].VolumeSource, y) {
				return
			}
		}
	}
}

// volumeSecretNames yields the Secrets of one pod volume; false when the
// caller stopped.
func volumeSecretNames(v *corev1.VolumeSource, y func(string) bool) bool {
	switch {
	case v.AzureFile != nil:
		return y(v.AzureFile.SecretName)
	case v.CephFS != nil && v.CephFS.SecretRef != nil:
		return y(v.CephFS.SecretRef.Name)
	case v.Cinder != nil && v.Cinder.SecretRef != nil:
		return y(v.Cinder.SecretRef.Name)
	case v.FlexVolume != nil && v.FlexVolume.SecretRef != nil:
		return y(v.FlexVolume.SecretRef.Name)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.Secret != nil && !y(s.Secret.Name) {
				return false
			}
		}
	case v.RBD != nil && v.RBD.SecretRef != nil:
		return y(v.RBD.SecretRef.Name)
	case v.Secret != nil:
		return y(v.Secret.SecretName)
	case v.ScaleIO != nil && v.ScaleIO.SecretRef != nil:
		return y(v.ScaleIO.SecretRef.Name)
	case v.ISCSI != nil && v.ISCSI.SecretRef != nil:
		return y(v.ISCSI.SecretRef.Name)
	case v.StorageOS != nil && v.StorageOS.SecretRef != nil:
		return y(v.StorageOS.SecretRef.Name)
	case v.CSI != nil && v.CSI.NodePublishSecretRef != nil:
		return y(v.CSI.NodePublishSecretRef.Name)
	}
	return true
}

// podConfigMapNames yields the name of every ConfigMap pod references:
// env and envFrom, configMap volumes and projected configMaps.
func podConfigMapNames(pod *corev1.Pod) iter.Seq[string] {
	return func(yield func(string) bool) {
		y := skipEmpty(yield)
		for env, envFrom := range containerEnvs(&pod.Spec) {
			for _, e := range envFrom {
				if e.ConfigMapRef != nil && !y(e.ConfigMapRef.Name) {
					return
				}
			}
			for _, e := range env {
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && !y(e.ValueFrom.ConfigMapKeyRef.Name) {
					return
				}
			}
		}
		for _, v := range pod.Spec.Volumes {
			switch {
			case v.Projected != nil:
				for _, s := range v.Projected.Sources {
					if s.ConfigMap != nil && !y(s.ConfigMap.Name) {
						return
					}
				}
			case v.ConfigMap != nil:
				if !y(v.ConfigMap.Name) {
					return
				}
			}
		}
	}
}

// podClaimNames yields the PersistentVolumeClaims pod mounts: those its
// persistentVolumeClaim volumes name and those made for its ephemeral
// volumes, which are named <pod>-<volume> (ephemeral.VolumeClaimName).
func podClaimNames(pod *corev1.Pod) iter.Seq[string] {
	return func(yield func(string) bool) {
		y := skipEmpty(yield)
		for _, v := range pod.Spec.Volumes {
			name := ""
			switch {
			case v.PersistentVolumeClaim != nil:
				name = v.PersistentVolumeClaim.ClaimName
			case v.Ephemeral != nil:
				name = pod.Name + "-" + v.Name
			}
			if name != "" && !y(name) {
				return
			}
		}
	}
}

// podResourceClaimNames yields the ResourceClaims of pod as Kubernetes'
// resourceclaim.PodClaims: a claim named in the spec, the claim made from
// a template once the pod's status records it, and the claim for its
// extended resources.
func podResourceClaimNames(pod *corev1.Pod) iter.Seq[string] {
	return func(yield func(string) bool) {
		y := skipEmpty(yield)
		for _, c := range pod.Spec.ResourceClaims {
			name := ""
			switch {
			case c.ResourceClaimName != nil:
				name = *c.ResourceClaimName
			case c.ResourceClaimTemplateName != nil:
				for _, st := range pod.Status.ResourceClaimStatuses {
					if st.Name == c.Name && st.ResourceClaimName != nil {
						name = *st.ResourceClaimName
						break
					}
				}
			}
			if !y(name) {
				return
			}
		}
		if st := pod.Status.ExtendedResourceClaimStatus; st != nil {
			y(st.ResourceClaimName)
		}
	}
}

// secretRef is a Secret a PersistentVolume names.
type secretRef struct {
	namespace, name string
	// kubeletVisible is false for the secrets only a CSI controller
	// reads (controllerPublish, controllerExpand), which a kubelet is
	// never given.
	kubeletVisible bool
}

// pvSecretRefs yields the Secrets pv names, as pvutil.VisitPVSecretNames:
// a secretRef without a namespace is in the namespace of the claim the
// volume is bound to, as volumes persisted before those fields existed
// have them.
func pvSecretRefs(pv *corev1.PersistentVolume) iter.Seq[secretRef] {
	return func(yield func(secretRef) bool) {
		y := func(ns, name string, visible bool) bool {
			if name == "" {
				return true
			}
			return yield(secretRef{namespace: ns, name: name, kubeletVisible: visible})
		}
		claimNS := ""
		if pv.Spec.ClaimRef != nil {
			claimNS = pv.Spec.ClaimRef.Namespace
		}
		orClaimNS := func(ns string) string {
			if ns != "" {
				return ns
			}
			return claimNS
		}
		s := &pv.Spec.PersistentVolumeSource
		switch {
		case s.AzureFile != nil:
			ns := claimNS
			if s.AzureFile.SecretNamespace != nil && *s.AzureFile.SecretNamespace != "" {
				ns = *s.AzureFile.SecretNamespace
			}
			y(ns, s.AzureFile.SecretName, true)
		case s.CephFS != nil && s.CephFS.SecretRef != nil:
			y(orClaimNS(s.CephFS.SecretRef.Namespace), s.CephFS.SecretRef.Name, true)
		case s.Cinder != nil && s.Cinder.SecretRef != nil:
			y(s.Cinder.SecretRef.Namespace, s.Cinder.SecretRef.Name, true)
		case s.FlexVolume != nil && s.FlexVolume.SecretRef != nil:
			y(orClaimNS(s.FlexVolume.SecretRef.Namespace), s.FlexVolume.SecretRef.Name, true)
		case s.RBD != nil && s.RBD.SecretRef != nil:
			y(orClaimNS(s.RBD.SecretRef.Namespace), s.RBD.SecretRef.Name, true)
		case s.ScaleIO != nil && s.ScaleIO.SecretRef != nil:
			y(orClaimNS(s.ScaleIO.SecretRef.Namespace), s.ScaleIO.SecretRef.Name, true)
		case s.ISCSI != nil && s.ISCSI.SecretRef != nil:
			y(orClaimNS(s.ISCSI.SecretRef.Namespace), s.ISCSI.SecretRef.Name, true)
		case s.StorageOS != nil && s.StorageOS.SecretRef != nil:
			y(s.StorageOS.SecretRef.Namespace, s.StorageOS.SecretRef.Name, true)
		case s.CSI != nil:
			refs := []struct {
				ref     *corev1.SecretReference
				visible bool
			}{
				{s.CSI.ControllerPublishSecretRef, false},
				{s.CSI.ControllerExpandSecretRef, false},
				{s.CSI.NodePublishSecretRef, true},
				{s.CSI.NodeStageSecretRef, true},
				{s.CSI.NodeExpandSecretRef, true},
			}
			for _, r := range refs {
				if r.ref != nil && !y(r.ref.Namespace, r.ref.Name, r.visible) {
					return
				}
			}
		}
	}
}

func skipEmpty(yield func(string) bool) func(string) bool {
	return func(name string) bool {
		if name == "" {
			return true
		}
		return yield(name)
	}
}

// isMirrorPod reports whether pod is a kubelet's mirror of a static pod.
// A mirror pod gives its node no access to anything it references: a
// node creates its mirror pods itself, so they must not be a way for it
// to reach other objects.
func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

// apiObjectReference tells whether pod references any other API object,
// and which kind (as a resource, worded as Kubernetes'
// podutil.HasAPIObjectReference words it): NodeRestriction refuses such a
// pod from a node. A volume type it does not know is an error, so that a
// new volume type is refused until someone decides about it.
func apiObjectReference(pod *corev1.Pod) (bool, string, error) {
	if pod.Spec.ServiceAccountName != "" {
		return true, "serviceaccounts", nil
	}
	for range podSecretNames(pod) {
		return true, "secrets", nil
	}
	for range podConfigMapNames(pod) {
		return true, "configmaps", nil
	}
	if len(pod.Spec.ResourceClaims) > 0 {
		return true, "resourceclaims", nil
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.AWSElasticBlockStore != nil, v.AzureDisk != nil, v.CephFS != nil, v.Cinder != nil,
			v.DownwardAPI != nil, v.EmptyDir != nil, v.FC != nil, v.FlexVolume != nil, v.Flocker != nil, v.GCEPersistentDisk != nil,
			v.GitRepo != nil, v.HostPath != nil, v.Image != nil, v.ISCSI != nil, v.NFS != nil, v.PhotonPersistentDisk != nil,
			v.PortworxVolume != nil, v.Quobyte != nil, v.RBD != nil, v.ScaleIO != nil, v.StorageOS != nil, v.VsphereVolume != nil:
			continue
		case v.ConfigMap != nil:
			return true, "configmaps (via configmap volumes)", nil
		case v.Secret != nil:
			return true, "secrets (via secret volumes)", nil
		case v.CSI != nil:
			return true, "csidrivers (via CSI volumes)", nil
		case v.Glusterfs != nil:
			return true, "endpoints (via glusterFS volumes)", nil
		case v.PersistentVolumeClaim != nil:
			return true, "persistentvolumeclaims", nil
		case v.Ephemeral != nil:
			return true, "persistentvolumeclaims (via ephemeral volumes)", nil
		case v.AzureFile != nil:
			return true, "secrets (via azureFile volumes)", nil
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil:
					return true, "configmaps (via projected volumes)", nil
				case s.Secret != nil:
					return true, "secrets (via projected volumes)", nil
				case s.ServiceAccountToken != nil:
					return true, "serviceaccounts (via projected volumes)", nil
				case s.ClusterTrustBundle != nil:
					return true, "clustertrustbundles", nil
				case s.PodCertificate != nil:
					return true, "podcertificates", nil
				case s.DownwardAPI != nil:
					continue
				default:
					return true, "", fmt.Errorf("unknown source for projected volume %q", v.Name)
				}
			}
		default:
			// Kubernetes' message, two spaces and all.
			return true, "", fmt.Errorf("unknown volume type for volume  %q", v.Name)
		}
	}
	return false, "", nil
}
