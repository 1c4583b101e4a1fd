package core

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// podStrategy: pods start Pending; once bound to a node they are deleted
// gracefully, the kubelet finishing the deletion.
type podStrategy struct{ apiresource.DefaultStrategy }

// Default sets the pod spec's defaults and those Kubernetes sets on pods
// only, not on templates.
func (podStrategy) Default(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	DefaultPodSpec(&pod.Spec)
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			requestsFromLimits(&cs[i].Resources)
		}
	}
	if pod.Spec.EnableServiceLinks == nil {
		pod.Spec.EnableServiceLinks = ptr.To(corev1.DefaultEnableServiceLinks)
	}
	if pod.Spec.HostNetwork {
		for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range cs {
				for j := range cs[i].Ports {
					if cs[i].Ports[j].HostPort == 0 {
						cs[i].Ports[j].HostPort = cs[i].Ports[j].ContainerPort
					}
				}
			}
		}
	}
}

// requestsFromLimits makes a limit without a request also the request.
func requestsFromLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = q.DeepCopy()
		}
	}
}

func (podStrategy) PrepareForCreate(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	pod.Generation = 1
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(pod)}
	// A gated pod says why it waits, as Kubernetes' pod strategy records.
	if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = []corev1.PodCondition{{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
}

// PrepareForUpdate keeps the status: only the status subresource (the
// kubelet) writes it. A changed spec is a new generation.
func (podStrategy) PrepareForUpdate(obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	pod.Status = oldPod.Status
	bumpGeneration(pod, oldPod)
}

// Validate checks a new pod, which may not have ephemeral containers yet:
// they are added through the ephemeralcontainers subresource.
func (podStrategy) Validate(obj runtime.Object) field.ErrorList {
	pod := obj.(*corev1.Pod)
	errs := validatePod(pod)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// validatePod checks a pod: its spec, plus what Kubernetes checks on pods
// but not on templates.
func validatePod(pod *corev1.Pod) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validatePodSpec(&pod.Spec, true, spec)
	volumes, _ := validateVolumes(pod.Spec.Volumes, spec.Child("volumes"))
	errs = append(errs, validateEphemeralContainers(&pod.Spec, volumes, spec.Child("ephemeralContainers"))...)
	errs = append(errs, validateResizePolicies(&pod.Spec, spec)...)
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"containers", pod.Spec.Containers}, {"initContainers", pod.Spec.InitContainers}} {
		for i, c := range list.containers {
			if c.Image != strings.TrimSpace(c.Image) {
				errs = append(errs, field.Invalid(spec.Child(list.name).Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
			}
		}
	}
	return errs
}

// updatablePodSpecFields lists, for the error message, what a pod update may
// change.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// ValidateUpdate follows Kubernetes: a running pod's spec is fixed but for
// its images, a shorter deadline, added tolerations and removed scheduling
// gates. Binding to a node goes through the binding subresource.
func (podStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	errs := validatePod(pod)
	spec := field.NewPath("spec")

	for _, list := range []struct {
		name     string
		new, old []corev1.Container
	}{{"containers", pod.Spec.Containers, oldPod.Spec.Containers}, {"initContainers", pod.Spec.InitContainers, oldPod.Spec.InitContainers}} {
		if len(list.new) != len(list.old) {
			return append(errs, field.Forbidden(spec.Child(list.name), "pod updates may not add or remove containers"))
		}
	}

	deadline := spec.Child("activeDeadlineSeconds")
	switch newD, oldD := pod.Spec.ActiveDeadlineSeconds, oldPod.Spec.ActiveDeadlineSeconds; {
	case newD != nil && (*newD < 0 || *newD > math.MaxInt32):
		return append(errs, field.Invalid(deadline, *newD, inclusiveRange(0, math.MaxInt32)))
	case newD != nil && oldD != nil && *newD > *oldD:
		return append(errs, field.Invalid(deadline, *newD, "must be less than or equal to previous value"))
	case newD == nil && oldD != nil:
		errs = append(errs, field.Invalid(deadline, newD, "must not update from a positive integer to nil value"))
	}

	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, oldPod.Spec.Tolerations, spec.Child("tolerations"))...)
	errs = append(errs, validateOnlyRemovedSchedulingGates(pod.Spec.SchedulingGates, oldPod.Spec.SchedulingGates, spec.Child("schedulingGates"))...)

	if equality.Semantic.DeepEqual(pod.Spec, oldPod.Spec) {
		return errs
	}
	// Copy what may change from the old spec; anything still different
	// is a change Kubernetes refuses.
	munged := pod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldPod.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldPod.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = oldPod.Spec.ActiveDeadlineSeconds
	munged.Tolerations = oldPod.Spec.Tolerations
	munged.SchedulingGates = oldPod.Spec.SchedulingGates
	// Kubernetes lets the grace period change only from negative to 1;
	// Coracle lets it change freely.
	munged.TerminationGracePeriodSeconds = oldPod.Spec.TerminationGracePeriodSeconds
	if !equality.Semantic.DeepEqual(*munged, oldPod.Spec) {
		// The diff says what changed, as Kubernetes' message does.
		errs = append(errs, field.Forbidden(spec, fmt.Sprintf("pod updates may not change fields other than %s\n%v", strings.Join(updatablePodSpecFields, ","), diff.Diff(oldPod.Spec, *munged))))
	}
	return errs
}

// validateOnlyAddedTolerations lets an update add tolerations and change
// the tolerationSeconds of existing ones, nothing else.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, p *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			o.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(p, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func validateOnlyRemovedSchedulingGates(gates, old []corev1.PodSchedulingGate, p *field.Path) field.ErrorList {
	had := sets.New[string]()
	for _, g := range old {
		had.Insert(g.Name)
	}
	var errs field.ErrorList
	for i, g := range gates {
		if !had.Has(g.Name) {
			errs = append(errs, field.Forbidden(p.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

var podPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

// podConditionTypes are the conditions Kubernetes itself sets; others must
// be qualified names.
var podConditionTypes = sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady)

// ValidateStatusUpdate checks what the kubelet and scheduler write: known
// phase, valid IPs, and no terminated container coming back to life unless
// the pod restarts it.
func (podStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	status := field.NewPath("status")
	var errs field.ErrorList
	if pod.Spec.NodeName != oldPod.Spec.NodeName {
		errs = append(errs, field.Forbidden(status.Child("nodeName"), "may not be changed directly"))
	}
	if ph := pod.Status.Phase; ph != "" && !sets.New(podPhases...).Has(ph) {
		errs = append(errs, field.NotSupported(status.Child("phase"), ph, podPhases))
	}
	if n := pod.Status.NominatedNodeName; n != "" && n != oldPod.Status.NominatedNodeName {
		errs = append(errs, invalids(status.Child("nominatedNodeName"), n, apivalidation.NameIsDNSSubdomain(n, false))...)
	}
	for i, c := range pod.Status.Conditions {
		if !podConditionTypes.Has(c.Type) {
			errs = append(errs, validateQualifiedName(string(c.Type), status.Child("conditions").Index(i).Child("type"))...)
		}
	}
	if pod.Status.PodIP != "" {
		errs = append(errs, validation.IsValidIP(status.Child("podIP"), pod.Status.PodIP)...)
	}
	for i, ip := range pod.Status.PodIPs {
		errs = append(errs, validation.IsValidIP(status.Child("podIPs").Index(i), ip.IP)...)
	}
	if len(pod.Status.HostIPs) > 0 && pod.Status.HostIP != pod.Status.HostIPs[0].IP {
		errs = append(errs, field.Invalid(status.Child("hostIPs").Index(0).Child("ip"), pod.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
	}
	for i, ip := range pod.Status.HostIPs {
		errs = append(errs, validation.IsValidIP(status.Child("hostIPs").Index(i), ip.IP)...)
	}
	restartable := sets.New[string]()
	for _, c := range oldPod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			restartable.Insert(c.Name)
		}
	}
	errs = append(errs, validateContainerStateTransition(pod.Status.ContainerStatuses, oldPod.Status.ContainerStatuses, oldPod.Spec.RestartPolicy, nil, status.Child("containerStatuses"))...)
	errs = append(errs, validateContainerStateTransition(pod.Status.InitContainerStatuses, oldPod.Status.InitContainerStatuses, oldPod.Spec.RestartPolicy, restartable, status.Child("initContainerStatuses"))...)
	return errs
}

// validateContainerStateTransition refuses a terminated container becoming
// non-terminated when the pod's restart policy would not have restarted it.
func validateContainerStateTransition(statuses, old []corev1.ContainerStatus, policy corev1.RestartPolicy, restartable sets.Set[string], p *field.Path) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	var errs field.ErrorList
	for i, o := range old {
		t := o.State.Terminated
		if t == nil || (t.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure) || restartable.Has(o.Name) {
			continue
		}
		for _, s := range statuses {
			if s.Name == o.Name && s.State.Terminated == nil {
				errs = append(errs, field.Forbidden(p.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

// GracePeriod follows Kubernetes: the client's value, else the pod's
// terminationGracePeriodSeconds; zero for pods never scheduled or already
// finished.
func (podStrategy) GracePeriod(obj runtime.Object, requested *int64) (int64, bool) {
	pod := obj.(*corev1.Pod)
	period := int64(0)
	switch {
	case requested != nil:
		period = *requested
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		period = 0
	}
	return period, true
}

// qosClass computes the pod's QoS class from its containers' requests and
// limits, as Kubernetes does.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	zero := true
	guaranteed := true
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zero = false
			if cur, ok := requests[name]; ok {
				cur.Add(q)
				requests[name] = cur
			} else {
				requests[name] = q.DeepCopy()
			}
		}
		has := map[corev1.ResourceName]bool{}
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zero = false
			has[name] = true
			if cur, ok := limits[name]; ok {
				cur.Add(q)
				limits[name] = cur
			} else {
				limits[name] = q.DeepCopy()
			}
		}
		if !has[corev1.ResourceCPU] || !has[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if zero {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
