package nodeauth

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/apiserver/internal/authn"
)

// cluster is the watch caches of a test: it implements Pods, Volumes and
// Nodes over fixed objects.
type cluster struct {
	pods  []*corev1.Pod
	pvcs  []*corev1.PersistentVolumeClaim
	pvs   []*corev1.PersistentVolume
	nodes []*corev1.Node
	// err, when set, is what every lookup fails with.
	err error
}

func (c *cluster) PodsOnNode(node string) ([]*corev1.Pod, error) {
	if c.err != nil {
		return nil, c.err
	}
	var out []*corev1.Pod
	for _, p := range c.pods {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out, nil
}

func (c *cluster) Pod(namespace, name string) (*corev1.Pod, error) {
	if c.err != nil {
		return nil, c.err
	}
	for _, p := range c.pods {
		if p.Namespace == namespace && p.Name == name {
			return p, nil
		}
	}
	return nil, apierrors.NewNotFound(podResource, name)
}

func (c *cluster) PersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	if c.err != nil {
		return nil, c.err
	}
	for _, p := range c.pvcs {
		if p.Namespace == namespace && p.Name == name {
			return p, nil
		}
	}
	return nil, apierrors.NewNotFound(pvcResource, name)
}

func (c *cluster) PersistentVolume(name string) (*corev1.PersistentVolume, error) {
	if c.err != nil {
		return nil, c.err
	}
	for _, p := range c.pvs {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, apierrors.NewNotFound(pvResource, name)
}

func (c *cluster) Node(name string) (*corev1.Node, error) {
	if c.err != nil {
		return nil, c.err
	}
	for _, n := range c.nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, apierrors.NewNotFound(nodeResource, name)
}

func nodeUser(name string) *authn.User {
	return &authn.User{Name: NodeUserPrefix + name, Groups: []string{NodesGroup, authn.AllAuthenticated}}
}

var alice = &authn.User{Name: "alice", Groups: []string{authn.AllAuthenticated}}

func ptrTo[T any](v T) *T { return &v }

// webPod is bound to n1 and references an object of every kind a pod can
// reference, each by a name that says where it is referenced from.
func webPod() *corev1.Pod {
	secretEnv := func(name string) corev1.EnvVar {
		return corev1.EnvVar{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"}}}
	}
	configMapEnv := func(name string) corev1.EnvVar {
		return corev1.EnvVar{Name: "C", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"}}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "web", UID: "web-uid"},
		Spec: corev1.PodSpec{
			NodeName:           "n1",
			ServiceAccountName: "web-sa",
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull-secret"}},
			InitContainers: []corev1.Container{{
				Name: "init", Env: []corev1.EnvVar{secretEnv("init-secret"), configMapEnv("init-cm")},
			}},
			Containers: []corev1.Container{{
				Name: "app",
				Env:  []corev1.EnvVar{secretEnv("env-secret"), configMapEnv("env-cm"), {Name: "plain", Value: "x"}},
				EnvFrom: []corev1.EnvFromSource{
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-secret"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-cm"}}},
				},
			}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug",
				Env:  []corev1.EnvVar{secretEnv("ephemeral-secret")},
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ephemeral-cm"}}},
				},
			}}},
			Volumes: []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "vol-cm"}}}},
				{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "projected-secret"}}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "projected-cm"}}},
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "vault-token", Audience: "vault"}},
				}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				{Name: "csi", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
					Driver: "d", NodePublishSecretRef: &corev1.LocalObjectReference{Name: "csi-secret"}}}},
				{Name: "empty", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			ResourceClaims: []corev1.PodResourceClaim{
				{Name: "gpu", ResourceClaimName: ptrTo("gpu-claim")},
				{Name: "tmpl", ResourceClaimTemplateName: ptrTo("gpu-template")},
			},
		},
		Status: corev1.PodStatus{
			ResourceClaimStatuses: []corev1.PodResourceClaimStatus{{Name: "tmpl", ResourceClaimName: ptrTo("web-tmpl-x7k2")}},
		},
	}
}

func secretVolumePod(namespace, name, node, secret string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(name + "-uid")},
		Spec: corev1.PodSpec{
			NodeName: node,
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: secret}}}},
		},
	}
}

// testCluster: web on n1; other on n2; a mirror pod on n1 (whose
// references grant nothing); a pod not yet scheduled; web's claim "data"
// bound to a CSI volume with node and controller secrets in "storage".
func testCluster() *cluster {
	mirror := secretVolumePod("ns1", "static-n1", "n1", "mirror-secret")
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
	return &cluster{
		pods: []*corev1.Pod{
			webPod(),
			secretVolumePod("ns1", "other", "n2", "other-secret"),
			mirror,
			secretVolumePod("ns1", "pending", "", "pending-secret"),
		},
		pvcs: []*corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-data"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "web-scratch"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-rbd"}},
		},
		pvs: []*corev1.PersistentVolume{
			{
				ObjectMeta: metav1.ObjectMeta{Name: "pv-data"},
				Spec: corev1.PersistentVolumeSpec{
					ClaimRef: &corev1.ObjectReference{Namespace: "ns1", Name: "data"},
					PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
						Driver:                     "d",
						NodePublishSecretRef:       &corev1.SecretReference{Namespace: "storage", Name: "pv-node-secret"},
						ControllerPublishSecretRef: &corev1.SecretReference{Namespace: "storage", Name: "pv-controller-secret"},
					}},
				},
			},
			{
				// A secretRef without a namespace is in the claim's.
				ObjectMeta: metav1.ObjectMeta{Name: "pv-rbd"},
				Spec: corev1.PersistentVolumeSpec{
					ClaimRef: &corev1.ObjectReference{Namespace: "ns1", Name: "web-scratch"},
					PersistentVolumeSource: corev1.PersistentVolumeSource{RBD: &corev1.RBDPersistentVolumeSource{
						SecretRef: &corev1.SecretReference{Name: "rbd-secret"}}},
				},
			},
			{
				ObjectMeta: metav1.ObjectMeta{Name: "pv-elsewhere"},
				Spec: corev1.PersistentVolumeSpec{
					ClaimRef: &corev1.ObjectReference{Namespace: "ns1", Name: "unused"},
					PersistentVolumeSource: corev1.PersistentVolumeSource{RBD: &corev1.RBDPersistentVolumeSource{
						SecretRef: &corev1.SecretReference{Name: "unused-rbd-secret"}}},
				},
			},
			{ObjectMeta: metav1.ObjectMeta{Name: "pv-available"}},
		},
		nodes: []*corev1.Node{
			{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "n1-uid"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "n2", UID: "n2-uid"}},
		},
	}
}
