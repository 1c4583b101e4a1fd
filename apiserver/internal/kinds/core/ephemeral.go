package core

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// Pods' subresources that take whole pods: status (the kubelet's),
// binding (the scheduler's nodeName), ephemeralcontainers (kubectl
// debug's spec.ephemeralContainers) and resize (containers' resources),
// each changing only what it owns.
var _ apiresource.SubresourceStrategy = podStrategy{}

// PrepareForSubresourceUpdate keeps what a write through sub may not
// change. Through ephemeralcontainers only spec.ephemeralContainers
// changes, as Kubernetes' EphemeralContainersStrategy: the rest of the
// spec, the status and the metadata a status write keeps stay as they
// were, and a changed spec is a new generation. Through resize only the
// containers' resources change (prepareResize).
func (s podStrategy) PrepareForSubresourceUpdate(sub string, obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	switch sub {
	case apiresource.Resize:
		prepareResize(pod, oldPod)
		return
	case apiresource.EphemeralContainers:
	default:
		return
	}
	ephemeral := pod.Spec.EphemeralContainers
	pod.Spec = *oldPod.Spec.DeepCopy()
	pod.Status = *oldPod.Status.DeepCopy()
	metav1.ResetObjectMetaForStatus(&pod.ObjectMeta, &oldPod.ObjectMeta)
	pod.Spec.EphemeralContainers = ephemeral
	for i := range pod.Spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	bumpGeneration(pod, oldPod)
}

// ValidateSubresourceUpdate checks a write through sub: the status as any
// status write, ephemeral containers as Kubernetes'
// ValidatePodEphemeralContainersUpdate, a resize as its
// ValidatePodResize; binding sets only the node name, which its handler
// checks.
func (s podStrategy) ValidateSubresourceUpdate(sub string, obj, old runtime.Object) field.ErrorList {
	switch sub {
	case apiresource.Status:
		return s.ValidateStatusUpdate(obj, old)
	case apiresource.EphemeralContainers:
		return validateEphemeralContainersUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
	case apiresource.Resize:
		return validateResize(obj.(*corev1.Pod), old.(*corev1.Pod))
	}
	return nil
}

// validateEphemeralContainersUpdate lets ephemeral containers be added
// to a pod, never removed or changed, in an otherwise valid pod that is
// not a static pod's mirror.
func validateEphemeralContainersUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validatePod(pod)
	// Static pods cannot run ephemeral containers (the kubelet owns
	// them, not the API): that is the only error.
	if _, ok := old.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods do not support ephemeral containers")}
	}
	path := field.NewPath("spec", "ephemeralContainers")
	byName := map[string]*corev1.EphemeralContainer{}
	for i := range pod.Spec.EphemeralContainers {
		byName[pod.Spec.EphemeralContainers[i].Name] = &pod.Spec.EphemeralContainers[i]
	}
	// A patch may reorder them: compare by name.
	for _, was := range old.Spec.EphemeralContainers {
		now, ok := byName[was.Name]
		switch {
		case !ok:
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("existing ephemeral containers %q may not be removed\n", was.Name)))
		case !equality.Semantic.DeepEqual(was, *now):
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("existing ephemeral containers %q may not be changed\n%v", was.Name, diff.Diff(was, *now))))
		}
	}
	return errs
}

// ephemeralContainerFields are the fields an ephemeral container may set,
// as Kubernetes lists them: it is for debugging, so nothing the pod's
// service could come to rely on (ports, probes, lifecycle, resources,
// restart policies). A field added to the API is refused until listed.
var ephemeralContainerFields = sets.New(
	"Name", "Image", "Command", "Args", "WorkingDir", "EnvFrom", "Env", "VolumeMounts", "VolumeDevices",
	"TerminationMessagePath", "TerminationMessagePolicy", "ImagePullPolicy", "SecurityContext", "Stdin", "StdinOnce", "TTY",
)

// validateEphemeralContainers checks a pod's ephemeral containers: each
// a valid container setting only the allowed fields, named uniquely
// among all the pod's containers, targeting one of its other containers
// if any, and mounting no subPath (a bind mount that would outlive the
// container).
func validateEphemeralContainers(spec *corev1.PodSpec, volumes map[string]corev1.VolumeSource, path *field.Path) field.ErrorList {
	if len(spec.EphemeralContainers) == 0 {
		return nil
	}
	others := sets.New[string]()
	for _, c := range spec.Containers {
		others.Insert(c.Name)
	}
	for _, c := range spec.InitContainers {
		others.Insert(c.Name)
	}
	all := others.Clone()
	var errs field.ErrorList
	for i, ec := range spec.EphemeralContainers {
		p := path.Index(i)
		c := (*corev1.Container)(&ec.EphemeralContainerCommon)
		errs = append(errs, validateContainerCommon(c, volumes, p)...)
		if c.Image != strings.TrimSpace(c.Image) {
			errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		if all.Has(ec.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), ec.Name))
		} else {
			all.Insert(ec.Name)
		}
		if ec.TargetContainerName != "" && !others.Has(ec.TargetContainerName) {
			errs = append(errs, field.NotFound(p.Child("targetContainerName"), ec.TargetContainerName))
		}
		errs = append(errs, onlyAllowedFields(ec.EphemeralContainerCommon, ephemeralContainerFields, "cannot be set for an Ephemeral Container", p)...)
		for j, m := range ec.VolumeMounts {
			if m.SubPath != "" {
				errs = append(errs, field.Forbidden(p.Child("volumeMounts").Index(j).Child("subPath"), "cannot be set for an Ephemeral Container"))
			}
			if m.SubPathExpr != "" {
				errs = append(errs, field.Forbidden(p.Child("volumeMounts").Index(j).Child("subPathExpr"), "cannot be set for an Ephemeral Container"))
			}
		}
	}
	return errs
}

// onlyAllowedFields refuses every field of the struct value that is set
// (not its zero value) and not in allowed, by its JSON-style name.
func onlyAllowedFields(value any, allowed sets.Set[string], msg string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	t, v := reflect.TypeOf(value), reflect.ValueOf(value)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if allowed.Has(f.Name) || v.Field(i).IsZero() {
			continue
		}
		r, n := utf8.DecodeRuneInString(f.Name)
		errs = append(errs, field.Forbidden(path.Child(string(unicode.ToLower(r))+f.Name[n:]), msg))
	}
	return errs
}

// bumpGeneration makes a change of the pod's spec a new generation, as
// Kubernetes counts pods' generations.
func bumpGeneration(pod, old *corev1.Pod) {
	if !equality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		pod.Generation = old.Generation + 1
	}
}
