package core

import (
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "k8s.io/api/core/v1"
)

// Pods' resize subresource changes a running pod's containers' cpu and
// memory in place (in-place pod vertical scaling, GA in Kubernetes 1.35):
// it writes spec.containers[*] and spec.initContainers[*] resources and
// resizePolicy, nothing else, as Kubernetes' podResizeStrategy; the
// kubelet then actuates the resize and reports it in the status.
//
// Coracle serves it as Kubernetes does with the
// InPlacePodLevelResourcesVerticalScaling and
// InPlacePodVerticalScalingMemoryBackedVolumes gates off: pod-level
// resources and volumes are not resizable (the kubelet actuates neither).
// InPlacePodVerticalScalingInitContainers is GA, so every init container
// is resizable, not only sidecars.

// prepareResize keeps everything of old but the containers' resources and
// resize policies, as Kubernetes' dropNonResizeUpdates: the rest of the
// spec, the status and the metadata a status write keeps stay as they
// were, and a changed spec is a new generation. Added, removed, renamed
// or reordered containers are left as sent for validation to refuse.
func prepareResize(pod, old *corev1.Pod) {
	if len(pod.Spec.Containers) != len(old.Spec.Containers) || len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return
	}
	containers := keepResizeFields(pod.Spec.Containers, old.Spec.Containers)
	initContainers := keepResizeFields(pod.Spec.InitContainers, old.Spec.InitContainers)
	pod.Spec = *old.Spec.DeepCopy()
	pod.Status = *old.Status.DeepCopy()
	metav1.ResetObjectMetaForStatus(&pod.ObjectMeta, &old.ObjectMeta)
	pod.Spec.Containers, pod.Spec.InitContainers = containers, initContainers
	// A resize is decoded with the pod's defaults, as every write: a new
	// limit without a request is also the request, quantities rounded.
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			roundResources(cs[i].Resources.Limits)
			roundResources(cs[i].Resources.Requests)
			requestsFromLimits(&cs[i].Resources)
		}
	}
	bumpGeneration(pod, old)
}

// keepResizeFields returns copies of old's containers with the resources
// and resize policies of sent, or sent itself if a container was renamed
// or reordered.
func keepResizeFields(sent, old []corev1.Container) []corev1.Container {
	if len(sent) == 0 {
		return sent
	}
	out := make([]corev1.Container, len(old))
	for i := range old {
		if sent[i].Name != old[i].Name {
			return sent
		}
		out[i] = *old[i].DeepCopy()
		out[i].Resources = *sent[i].Resources.DeepCopy()
		out[i].ResizePolicy = append([]corev1.ContainerResizePolicy(nil), sent[i].ResizePolicy...)
	}
	return out
}

// validateResize checks a resize as Kubernetes' ValidatePodResize: a
// valid pod, not a static pod's mirror nor a Windows pod, of the same
// QoS class, on a node that reports containers' resources, whose
// containers are the same in the same order, with no request or limit
// removed and nothing but cpu and memory changed.
func validateResize(pod, old *corev1.Pod) field.ErrorList {
	errs := validatePod(pod)
	if _, ok := old.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods cannot be resized")}
	}
	if old.Spec.OS != nil && old.Spec.OS.Name == corev1.Windows {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "windows pods cannot be resized")}
	}
	spec := field.NewPath("spec")
	// The stored class is the one the pod was admitted and is running
	// with: the new resources must give the same.
	if storedQOSClass(old) != qosClass(pod) {
		errs = append(errs, field.Invalid(spec, pod.Status.QOSClass, "Pod QOS Class may not change as a result of resizing"))
	}
	if !nodeSupportsResize(old) {
		errs = append(errs, field.Forbidden(spec, "Pod running on node without support for resize"))
	}
	if hasPodLevelResources(old) || hasPodLevelResources(pod) {
		return append(errs, field.Forbidden(field.NewPath(""), "resize of pods with pod-level resources is forbidden when InPlacePodLevelResourcesVerticalScalingEnabled feature gate is disabled"))
	}
	if order := validateResizeContainerOrder(pod, old, spec); len(order) > 0 {
		return append(errs, order...)
	}

	for i := range old.Spec.InitContainers {
		errs = append(errs, validateResourcesNotRemoved(&pod.Spec.InitContainers[i].Resources, &old.Spec.InitContainers[i].Resources,
			spec.Child("initContainers").Index(i).Child("resources"))...)
	}
	for i := range old.Spec.Containers {
		errs = append(errs, validateResourcesNotRemoved(&pod.Spec.Containers[i].Resources, &old.Spec.Containers[i].Resources,
			spec.Child("containers").Index(i).Child("resources"))...)
	}

	// Put back the old cpu and memory: whatever still differs is a change
	// a resize may not make.
	munged := pod.Spec.DeepCopy()
	for i := range munged.Containers {
		keepOldCPUMemory(&munged.Containers[i], &old.Spec.Containers[i])
		if !equality.Semantic.DeepEqual(munged.Containers[i], old.Spec.Containers[i]) {
			errs = append(errs, field.Forbidden(spec, "only cpu and memory resources are mutable"))
		}
	}
	for i := range munged.InitContainers {
		c, was := &munged.InitContainers[i], &old.Spec.InitContainers[i]
		changed := !equality.Semantic.DeepEqual(*c, *was)
		keepOldCPUMemory(c, was)
		if !equality.Semantic.DeepEqual(*c, *was) {
			errs = append(errs, field.Forbidden(spec.Child("initContainers").Index(i), "only cpu and memory resources for init or sidecar containers are mutable"))
		}
		if changed && !isRestartable(was) {
			for _, p := range c.ResizePolicy {
				if p.RestartPolicy == corev1.RestartContainer {
					errs = append(errs, field.Forbidden(spec.Child("initContainers").Index(i), "non-sidecar init containers with a resize policy of RestartContainer cannot be resized"))
				}
			}
		}
	}
	if !equality.Semantic.DeepEqual(pod.Spec.Volumes, old.Spec.Volumes) {
		errs = append(errs, field.Forbidden(spec.Child("volumes"), "volumes are immutable on resize when InPlacePodVerticalScalingMemoryBackedVolumes feature gate is disabled"))
	}
	if len(errs) > 0 {
		return errs
	}
	if !equality.Semantic.DeepEqual(*munged, old.Spec) {
		errs = append(errs, field.Forbidden(spec, "only cpu and memory resources are mutable"))
	}
	return errs
}

// storedQOSClass is the pod's recorded QoS class, computed if it has
// none, as Kubernetes' GetPodQOS.
func storedQOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	return qosClass(pod)
}

// nodeSupportsResize tells whether the pod's node can resize: a kubelet
// that can reports the resources of the containers it runs. A pod with
// no running container may be on any node, so it may be resized.
func nodeSupportsResize(pod *corev1.Pod) bool {
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Running != nil {
			return c.Resources != nil
		}
	}
	return true
}

func hasPodLevelResources(pod *corev1.Pod) bool {
	r := pod.Spec.Resources
	return r != nil && len(r.Requests)+len(r.Limits) > 0
}

// validateResizeContainerOrder refuses containers added, removed,
// renamed or reordered: a resize changes the containers the pod has.
func validateResizeContainerOrder(pod, old *corev1.Pod, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name     string
		new, old []corev1.Container
	}{{"containers", pod.Spec.Containers, old.Spec.Containers}, {"initContainers", pod.Spec.InitContainers, old.Spec.InitContainers}} {
		if len(list.new) != len(list.old) {
			errs = append(errs, field.Forbidden(spec.Child(list.name), list.name+" may not be added or removed on resize"))
			continue
		}
		for i := range list.old {
			if list.new[i].Name != list.old[i].Name {
				errs = append(errs, field.Forbidden(spec.Child(list.name).Index(i).Child("name"), list.name+" may not be renamed or reordered on resize"))
			}
		}
	}
	return errs
}

// validateResourcesNotRemoved refuses a resize dropping a request or a
// limit: the kubelet could not tell what to set it back to.
func validateResourcesNotRemoved(r, old *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if resourcesRemoved(r.Requests, old.Requests) {
		errs = append(errs, field.Forbidden(p.Child("requests"), "resource requests cannot be removed"))
	}
	if resourcesRemoved(r.Limits, old.Limits) {
		errs = append(errs, field.Forbidden(p.Child("limits"), "resource limits cannot be removed"))
	}
	return errs
}

func resourcesRemoved(list, old corev1.ResourceList) bool {
	for name := range old {
		if _, ok := list[name]; !ok {
			return true
		}
	}
	return false
}

// keepOldCPUMemory sets c's cpu and memory requests and limits to was',
// leaving whatever else c changed, as Kubernetes'
// dropCPUMemoryResourcesFromContainer.
func keepOldCPUMemory(c, was *corev1.Container) {
	c.Resources.Limits = withOldCPUMemory(c.Resources.Limits, was.Resources.Limits)
	c.Resources.Requests = withOldCPUMemory(c.Resources.Requests, was.Resources.Requests)
}

func withOldCPUMemory(list, old corev1.ResourceList) corev1.ResourceList {
	if list == nil && old == nil {
		return nil
	}
	out := corev1.ResourceList{}
	for name, q := range list {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			out[name] = q.DeepCopy()
		}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := old[name]; ok {
			out[name] = q.DeepCopy()
		}
	}
	return out
}

func isRestartable(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// resizeResources and resizeRestartPolicies are what a container's
// resizePolicy may name.
var (
	resizeResources       = sets.New(corev1.ResourceCPU, corev1.ResourceMemory)
	resizeRestartPolicies = sets.New(corev1.NotRequired, corev1.RestartContainer)
)

// validateResizePolicy checks a container's resizePolicy as Kubernetes:
// cpu and memory at most once each, each NotRequired or
// RestartContainer, and only NotRequired in a pod that never restarts
// its containers.
func validateResizePolicy(policies []corev1.ContainerResizePolicy, podRestart corev1.RestartPolicy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[corev1.ResourceName]()
	for i, rp := range policies {
		if seen.Has(rp.ResourceName) {
			errs = append(errs, field.Duplicate(p.Index(i), rp.ResourceName))
		}
		seen.Insert(rp.ResourceName)
		switch {
		case rp.ResourceName == "":
			errs = append(errs, field.Required(p, ""))
		case !resizeResources.Has(rp.ResourceName):
			errs = append(errs, field.NotSupported(p, rp.ResourceName, sets.List(resizeResources)))
		}
		switch {
		case rp.RestartPolicy == "":
			errs = append(errs, field.Required(p, ""))
		case !resizeRestartPolicies.Has(rp.RestartPolicy):
			errs = append(errs, field.NotSupported(p, rp.RestartPolicy, sets.List(resizeRestartPolicies)))
		}
		if podRestart == corev1.RestartPolicyNever && rp.RestartPolicy != corev1.NotRequired {
			errs = append(errs, field.Invalid(p, rp.RestartPolicy, "must be 'NotRequired' when pod `restartPolicy` is 'Never'"))
		}
	}
	return errs
}

// validateResizePolicies checks the resizePolicy of the pod's containers
// and init containers; a non-sidecar init container, which runs once,
// cannot be restarted to resize it.
func validateResizePolicies(spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range spec.Containers {
		errs = append(errs, validateResizePolicy(c.ResizePolicy, spec.RestartPolicy, p.Child("containers").Index(i).Child("resizePolicy"))...)
	}
	for i, c := range spec.InitContainers {
		rp := p.Child("initContainers").Index(i).Child("resizePolicy")
		errs = append(errs, validateResizePolicy(c.ResizePolicy, spec.RestartPolicy, rp)...)
		if isRestartable(&c) {
			continue
		}
		for j, policy := range c.ResizePolicy {
			if policy.RestartPolicy == corev1.RestartContainer {
				errs = append(errs, field.Invalid(rp.Index(j).Child("restartPolicy"), policy.RestartPolicy, "must not be set to 'RestartContainer' for non-sidecar initContainers"))
			}
		}
	}
	return errs
}
