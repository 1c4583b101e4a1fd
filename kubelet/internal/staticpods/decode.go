// Package staticpods is the kubelet's source of static pods: the pod
// manifests of a directory (--pod-manifest-path) and of a URL
// (--manifest-url), which the kubelet runs without the API, as
// Kubernetes' kubelet does (pkg/kubelet/config: file.go, http.go,
// common.go). Each pod gets the name <name>-<node>, a UID that is a hash
// of its manifest, node and source, so that a changed manifest is a new
// pod, and the annotations kubernetes.io/config.source, config.hash and
// config.seen. Mirrors publishes each one in the API as a mirror pod
// (kubernetes.io/config.mirror), which shows its status.
package staticpods

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
)

// The annotations of static and mirror pods, as Kubernetes' kubelet
// names them (pkg/kubelet/types).
const (
	// ConfigSourceAnnotationKey names where the pod came from: file or
	// http (api for the API's pods).
	ConfigSourceAnnotationKey = "kubernetes.io/config.source"
	// ConfigHashAnnotationKey is the static pod's hash, its UID.
	ConfigHashAnnotationKey = "kubernetes.io/config.hash"
	// ConfigFirstSeenAnnotationKey is when the kubelet first saw the
	// pod (RFC 3339 with nanoseconds).
	ConfigFirstSeenAnnotationKey = "kubernetes.io/config.seen"
	// ConfigMirrorAnnotationKey marks a mirror pod; its value is the hash
	// of the static pod it mirrors.
	ConfigMirrorAnnotationKey = v1.MirrorPodAnnotationKey
)

// Sources of static pods, the values of kubernetes.io/config.source.
const (
	SourceFile = "file"
	SourceHTTP = "http"
)

// maxConfigLength bounds a manifest, as Kubernetes' kubelet (10 MB).
const maxConfigLength = 10 << 20

// IsStaticPod reports whether the pod came from a file or a URL.
func IsStaticPod(pod *v1.Pod) bool {
	src := pod.Annotations[ConfigSourceAnnotationKey]
	return src == SourceFile || src == SourceHTTP
}

// IsMirrorPod reports whether the pod is a mirror pod in the API.
func IsMirrorPod(pod *v1.Pod) bool {
	_, ok := pod.Annotations[ConfigMirrorAnnotationKey]
	return ok
}

// podName is a static pod's name: the manifest's, then the node's, so
// that the mirror pods of many nodes do not collide.
func podName(name, node string) string {
	return name + "-" + strings.ToLower(node)
}

// decodeSinglePod decodes one pod (YAML or JSON) of the source and makes
// it a static pod of node; parsed is false when the data is no pod at all
// (a URL may serve a PodList instead). source is the file's path, or the
// URL.
func decodeSinglePod(data []byte, sourceKind, source, node string) (parsed bool, pod *v1.Pod, err error) {
	js, err := utilyaml.ToJSON(data)
	if err != nil {
		return false, nil, err
	}
	obj, err := runtime.Decode(scheme.Codecs.UniversalDeserializer(), js)
	if err != nil {
		return false, nil, err
	}
	p, ok := obj.(*v1.Pod)
	if !ok {
		return false, nil, fmt.Errorf("invalid pod: %s is not a Pod", obj.GetObjectKind().GroupVersionKind().Kind)
	}
	if err := prepare(p, sourceKind, source, node); err != nil {
		return true, nil, err
	}
	return true, p, nil
}

// decodePodList decodes a PodList served by a URL and makes each item a
// static pod of node. One bad pod refuses the list, as Kubernetes.
func decodePodList(data []byte, source, node string) (parsed bool, pods []*v1.Pod, err error) {
	js, err := utilyaml.ToJSON(data)
	if err != nil {
		return false, nil, err
	}
	obj, err := runtime.Decode(scheme.Codecs.UniversalDeserializer(), js)
	if err != nil {
		return false, nil, err
	}
	list, ok := obj.(*v1.PodList)
	if !ok {
		return false, nil, fmt.Errorf("invalid pods list: %s is not a PodList", obj.GetObjectKind().GroupVersionKind().Kind)
	}
	for i := range list.Items {
		p := &list.Items[i]
		if err := prepare(p, SourceHTTP, source, node); err != nil {
			return true, nil, err
		}
		pods = append(pods, p)
	}
	return true, pods, nil
}

// prepare defaults, names and validates a decoded pod, as common.go's
// tryDecodeSinglePod: the API's defaults first, then the UID (a hash of
// the defaulted pod, the node and the source), the name, namespace,
// node, hash annotation and NoExecute toleration of applyDefaults; then
// validation, and the refusal of references to other API objects, which
// the node could not read and its mirror pod may not have.
func prepare(pod *v1.Pod, sourceKind, source, node string) error {
	if pod.Name == "" {
		return errors.New("invalid pod: name is needed for the pod")
	}
	setDefaults(pod)
	if pod.UID == "" {
		h := fnv.New128a()
		fmt.Fprintf(h, "%v", dump.ForHash(pod))
		if sourceKind == SourceFile {
			fmt.Fprintf(h, "host:%s", node)
			fmt.Fprintf(h, "file:%s", source)
		} else {
			fmt.Fprintf(h, "url:%s", source)
		}
		pod.UID = types.UID(hex.EncodeToString(h.Sum(nil)))
	}
	pod.Name = podName(pod.Name, node)
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Spec.NodeName = node
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[ConfigHashAnnotationKey] = string(pod.UID)
	pod.Annotations[ConfigSourceAnnotationKey] = sourceKind
	if sourceKind == SourceFile {
		// So that node problems (not-ready, unreachable) never evict
		// the pods a node's own files ask for.
		addToleration(pod, v1.Toleration{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute})
	}
	pod.Status = v1.PodStatus{Phase: v1.PodPending}
	if errs := validate(pod); len(errs) > 0 {
		return fmt.Errorf("invalid pod: %s", strings.Join(errs, "; "))
	}
	resource, err := apiObjectReference(pod)
	if err != nil {
		return err
	}
	if resource != "" {
		return fmt.Errorf("static pods may not reference %s", resource)
	}
	return nil
}

// addToleration adds t unless the pod has it already.
func addToleration(pod *v1.Pod, t v1.Toleration) {
	for _, have := range pod.Spec.Tolerations {
		if have.MatchToleration(&t) {
			return
		}
	}
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, t)
}

// setDefaults sets the defaults the apiserver sets on a pod that the
// kubelet relies on (the API's pods have them): a static pod runs from
// its manifest, never through the API.
func setDefaults(pod *v1.Pod) {
	s := &pod.Spec
	if s.DNSPolicy == "" {
		s.DNSPolicy = v1.DNSClusterFirst
	}
	if s.RestartPolicy == "" {
		s.RestartPolicy = v1.RestartPolicyAlways
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &v1.PodSecurityContext{}
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptr.To[int64](v1.DefaultTerminationGracePeriodSeconds)
	}
	if s.SchedulerName == "" {
		s.SchedulerName = v1.DefaultSchedulerName
	}
	if s.EnableServiceLinks == nil {
		s.EnableServiceLinks = ptr.To(v1.DefaultEnableServiceLinks)
	}
	for i := range s.Volumes {
		if reflect.ValueOf(s.Volumes[i].VolumeSource).IsZero() {
			s.Volumes[i].EmptyDir = &v1.EmptyDirVolumeSource{}
		}
		if hp := s.Volumes[i].HostPath; hp != nil && hp.Type == nil {
			hp.Type = ptr.To(v1.HostPathUnset)
		}
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
}

func defaultContainer(c *v1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = v1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = v1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = v1.ProtocolTCP
		}
	}
	for _, p := range []*v1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 1
		}
		if p.PeriodSeconds == 0 {
			p.PeriodSeconds = 10
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 1
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 3
		}
		if p.HTTPGet != nil && p.HTTPGet.Scheme == "" {
			p.HTTPGet.Scheme = v1.URISchemeHTTP
		}
		if p.HTTPGet != nil && p.HTTPGet.Path == "" {
			p.HTTPGet.Path = "/"
		}
	}
}

// defaultPullPolicy is Always for an image tagged latest or untagged and
// not pinned by digest, IfNotPresent otherwise.
func defaultPullPolicy(image string) v1.PullPolicy {
	ref, _, pinned := strings.Cut(image, "@")
	last := ref[strings.LastIndex(ref, "/")+1:]
	tag := ""
	if i := strings.LastIndex(last, ":"); i >= 0 {
		tag = last[i+1:]
	}
	if image != "" && (tag == "latest" || (tag == "" && !pinned)) {
		return v1.PullAlways
	}
	return v1.PullIfNotPresent
}

// validate checks what the kubelet needs of a pod to run it. It is the
// part of the API's validation that a manifest gets wrong in practice;
// the apiserver validates the mirror pod in full, and a mirror pod it
// refuses is logged.
func validate(pod *v1.Pod) []string {
	var errs []string
	for _, msg := range validation.IsDNS1123Subdomain(pod.Name) {
		errs = append(errs, fmt.Sprintf("metadata.name: Invalid value: %q: %s", pod.Name, msg))
	}
	for _, msg := range validation.IsDNS1123Label(pod.Namespace) {
		errs = append(errs, fmt.Sprintf("metadata.namespace: Invalid value: %q: %s", pod.Namespace, msg))
	}
	volumes := sets.New[string]()
	for i, v := range pod.Spec.Volumes {
		if volumes.Has(v.Name) {
			errs = append(errs, fmt.Sprintf("spec.volumes[%d].name: Duplicate value: %q", i, v.Name))
		}
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			errs = append(errs, fmt.Sprintf("spec.volumes[%d].name: Invalid value: %q: %s", i, v.Name, msg))
		}
		volumes.Insert(v.Name)
	}
	if len(pod.Spec.Containers) == 0 {
		errs = append(errs, "spec.containers: Required value")
	}
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, "spec.ephemeralContainers: Forbidden: cannot be set on create")
	}
	names := sets.New[string]()
	check := func(path string, c *v1.Container) {
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, fmt.Sprintf("%s.name: Invalid value: %q: %s", path, c.Name, msg))
		}
		if names.Has(c.Name) {
			errs = append(errs, fmt.Sprintf("%s.name: Duplicate value: %q", path, c.Name))
		}
		names.Insert(c.Name)
		if strings.TrimSpace(c.Image) == "" {
			errs = append(errs, path+".image: Required value")
		}
		for j, m := range c.VolumeMounts {
			if !volumes.Has(m.Name) {
				errs = append(errs, fmt.Sprintf("%s.volumeMounts[%d].name: Not found: %q", path, j, m.Name))
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		check(fmt.Sprintf("spec.initContainers[%d]", i), &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		check(fmt.Sprintf("spec.containers[%d]", i), &pod.Spec.Containers[i])
	}
	switch pod.Spec.RestartPolicy {
	case v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever:
	default:
		errs = append(errs, fmt.Sprintf("spec.restartPolicy: Unsupported value: %q", pod.Spec.RestartPolicy))
	}
	return errs
}

// apiObjectReference names the kind of API object the pod references, as
// Kubernetes' podutil.HasAPIObjectReference words it ("" for none): a
// static pod may reference none (the node may not read them for a pod of
// its own making, and NodeRestriction refuses such a mirror pod). A
// volume type it does not know is an error.
func apiObjectReference(pod *v1.Pod) (string, error) {
	if pod.Spec.ServiceAccountName != "" {
		return "serviceaccounts", nil
	}
	if hasSecretRef(pod) {
		return "secrets", nil
	}
	if hasConfigMapRef(pod) {
		return "configmaps", nil
	}
	if len(pod.Spec.ResourceClaims) > 0 {
		return "resourceclaims", nil
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.AWSElasticBlockStore != nil, v.AzureDisk != nil, v.CephFS != nil, v.Cinder != nil,
			v.DownwardAPI != nil, v.EmptyDir != nil, v.FC != nil, v.FlexVolume != nil, v.Flocker != nil, v.GCEPersistentDisk != nil,
			v.GitRepo != nil, v.HostPath != nil, v.Image != nil, v.ISCSI != nil, v.NFS != nil, v.PhotonPersistentDisk != nil,
			v.PortworxVolume != nil, v.Quobyte != nil, v.RBD != nil, v.ScaleIO != nil, v.StorageOS != nil, v.VsphereVolume != nil:
			continue
		case v.CSI != nil:
			return "csidrivers (via CSI volumes)", nil
		case v.Glusterfs != nil:
			return "endpoints (via glusterFS volumes)", nil
		case v.PersistentVolumeClaim != nil:
			return "persistentvolumeclaims", nil
		case v.Ephemeral != nil:
			return "persistentvolumeclaims (via ephemeral volumes)", nil
		case v.AzureFile != nil:
			return "secrets (via azureFile volumes)", nil
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.ServiceAccountToken != nil:
					return "serviceaccounts (via projected volumes)", nil
				case s.ClusterTrustBundle != nil:
					return "clustertrustbundles", nil
				case s.PodCertificate != nil:
					return "podcertificates", nil
				case s.DownwardAPI != nil:
				default:
					return "", fmt.Errorf("unknown source for projected volume %q", v.Name)
				}
			}
		default:
			return "", fmt.Errorf("unknown volume type for volume %q", v.Name)
		}
	}
	return "", nil
}

// allContainers are the pod's init and regular containers.
func allContainers(pod *v1.Pod) []v1.Container {
	return append(append([]v1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
}

// envRefers reports whether a container's envFrom or env value source
// names an object of the kind from and value look for.
func envRefers(pod *v1.Pod, from func(v1.EnvFromSource) bool, value func(*v1.EnvVarSource) bool) bool {
	for _, c := range allContainers(pod) {
		for _, e := range c.EnvFrom {
			if from(e) {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && value(e.ValueFrom) {
				return true
			}
		}
	}
	return false
}

// hasSecretRef reports whether the pod names a Secret anywhere
// podutil.VisitPodSecretNames looks.
func hasSecretRef(pod *v1.Pod) bool {
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return true
	}
	if envRefers(pod, func(e v1.EnvFromSource) bool { return e.SecretRef != nil },
		func(e *v1.EnvVarSource) bool { return e.SecretKeyRef != nil }) {
		return true
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil, v.AzureFile != nil,
			v.CephFS != nil && v.CephFS.SecretRef != nil, v.Cinder != nil && v.Cinder.SecretRef != nil,
			v.FlexVolume != nil && v.FlexVolume.SecretRef != nil, v.RBD != nil && v.RBD.SecretRef != nil,
			v.ScaleIO != nil && v.ScaleIO.SecretRef != nil, v.StorageOS != nil && v.StorageOS.SecretRef != nil,
			v.CSI != nil && v.CSI.NodePublishSecretRef != nil,
			v.ISCSI != nil && (v.ISCSI.SecretRef != nil):
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					return true
				}
			}
		}
	}
	return false
}

// hasConfigMapRef reports whether the pod names a ConfigMap anywhere
// podutil.VisitPodConfigmapNames looks.
func hasConfigMapRef(pod *v1.Pod) bool {
	if envRefers(pod, func(e v1.EnvFromSource) bool { return e.ConfigMapRef != nil },
		func(e *v1.EnvVarSource) bool { return e.ConfigMapKeyRef != nil }) {
		return true
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					return true
				}
			}
		}
	}
	return false
}
