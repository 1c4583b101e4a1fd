// Package status computes a pod's status from what the runtime has of it.
// It is a pure function of its inputs, shared by the runc and the fake
// runtime, so a restarted kubelet computes the same status again.
package status

import (
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// Waiting reasons the kubelet gives a container that is not running, as
// Kubernetes names them.
const (
	ReasonContainerCreating          = "ContainerCreating"
	ReasonPodInitializing            = "PodInitializing"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonImagePullBackOff           = "ImagePullBackOff"
	ReasonErrImageNeverPull          = "ErrImageNeverPull"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonRunContainerError          = "RunContainerError"
)

// Terminated reasons.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
	// ReasonContainerStatusUnknown is a container's when its pod ended
	// with no exit of it on record (it never ran, or its record is lost).
	ReasonContainerStatusUnknown = "ContainerStatusUnknown"
)

// unknownExit is what a container with no exit on record is reported to
// have ended with, as Kubernetes' status manager does.
var unknownExit = v1.ContainerStateTerminated{
	Reason:   ReasonContainerStatusUnknown,
	Message:  "The container could not be located when the pod was terminated",
	ExitCode: 137,
}

// Waiting is why a container is not running, as the last sync found.
type Waiting struct {
	Reason, Message string
}

// Input is everything a pod's status is computed from.
type Input struct {
	// Pod is the pod as the API has it; its current status supplies
	// startTime and condition transition times.
	Pod *v1.Pod
	// Runtime is the runtime's view; nil before anything was created.
	Runtime *kruntime.Pod
	// Waiting holds, by container name, why a container is not running.
	Waiting map[string]Waiting
	// HostIP is the node's InternalIP.
	HostIP string
	// SandboxError, if set, is why the pod's sandbox could not be made.
	SandboxError string
	// Probes holds, by container name, what the probes of a running
	// container say; a running container with no entry is started and
	// ready.
	Probes map[string]ProbeState
	// Terminal says the pod is done for good: it is being deleted and
	// its containers have stopped. None will run again, whatever the
	// restart policy, so the phase is Succeeded if every container exited
	// 0 and Failed otherwise, and a container with no exit on record is
	// reported terminated (ContainerStatusUnknown, 137). Waiting is
	// ignored.
	Terminal bool
	// ResizeConditions are the pod's PodResizePending and
	// PodResizeInProgress conditions, as the kubelet's resize handling
	// keeps them; they replace the ones the pod has.
	ResizeConditions []v1.PodCondition
	Now              time.Time
}

// ProbeState is what a running container's probes say.
type ProbeState struct {
	// Started: the startup probe succeeded (or there is none).
	Started bool
	// Ready: started, and the readiness probe succeeded (or there is none).
	Ready bool
}

// Compute returns the pod's status.
func Compute(in Input) v1.PodStatus {
	pod := in.Pod
	old := pod.Status
	now := metav1.NewTime(in.Now.Truncate(time.Second))
	st := v1.PodStatus{
		QOSClass:          old.QOSClass,
		NominatedNodeName: old.NominatedNodeName,
		StartTime:         old.StartTime,
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if in.HostIP != "" {
		st.HostIP = in.HostIP
		st.HostIPs = []v1.HostIP{{IP: in.HostIP}}
	}
	rt := in.Runtime
	if rt == nil {
		rt = &kruntime.Pod{}
	}
	if pod.Spec.HostNetwork && rt.SandboxReady && in.HostIP != "" {
		st.PodIP = in.HostIP
		st.PodIPs = []v1.PodIP{{IP: in.HostIP}}
	} else if rt.IP != "" {
		st.PodIP = rt.IP
		st.PodIPs = []v1.PodIP{{IP: rt.IP}}
	} else if old.PodIP != "" && (isTerminal(old.Phase) || in.Terminal) {
		// A finished pod keeps the address it had.
		st.PodIP, st.PodIPs = old.PodIP, old.PodIPs
	}

	waiting := in.Waiting
	if in.Terminal {
		// Nothing is going to run again: an exited container is
		// terminated, not waiting for a restart.
		waiting = nil
	}
	for _, c := range pod.Spec.InitContainers {
		policy := pod.Spec.RestartPolicy
		if IsSidecar(&c) {
			// A sidecar runs again whatever the pod's policy.
			policy = v1.RestartPolicyAlways
		}
		cs := containerStatus(c, rt, waiting, policy)
		switch {
		case IsSidecar(&c):
			if ps, ok := in.Probes[c.Name]; ok && cs.State.Running != nil {
				cs.Started, cs.Ready = &ps.Started, ps.Ready
			}
		default:
			// A regular init container is ready once it completed, as
			// upstream's prober reports it.
			cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		}
		if w := cs.State.Waiting; w != nil && w.Reason == ReasonContainerCreating && cs.ContainerID == "" {
			// Not run yet: it waits for the pod's initialization, as
			// upstream's default state of a pod with init containers.
			w.Reason = ReasonPodInitializing
		}
		if in.SandboxError != "" && cs.State.Waiting != nil {
			cs.State.Waiting.Message = in.SandboxError
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	var regular []v1.ContainerStatus
	for _, c := range pod.Spec.Containers {
		regular = append(regular, containerStatus(c, rt, waiting, pod.Spec.RestartPolicy))
	}
	initDone := Initialized(pod.Spec, st.InitContainerStatuses, regular)
	for i, c := range pod.Spec.Containers {
		cs := regular[i]
		if ps, ok := in.Probes[c.Name]; ok && cs.State.Running != nil {
			cs.Started, cs.Ready = &ps.Started, ps.Ready
		}
		if !initDone && cs.State.Waiting != nil && cs.State.Waiting.Reason == ReasonContainerCreating {
			cs.State.Waiting.Reason = ReasonPodInitializing
		}
		if in.SandboxError != "" && cs.State.Waiting != nil {
			cs.State.Waiting.Message = in.SandboxError
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	for _, ec := range pod.Spec.EphemeralContainers {
		// Never restarted: an exited one stays terminated.
		cs := containerStatus(v1.Container(ec.EphemeralContainerCommon), rt, waiting, v1.RestartPolicyNever)
		cs.Ready = false
		if cs.State.Running == nil {
			cs.Started = nil
		}
		st.EphemeralContainerStatuses = append(st.EphemeralContainerStatuses, cs)
	}
	st.Phase = Phase(pod.Spec, st.InitContainerStatuses, st.ContainerStatuses, initDone)
	if in.Terminal {
		st.Phase = terminate(&st, initDone)
	}
	if isTerminal(old.Phase) {
		// A pod never leaves Succeeded or Failed.
		st.Phase = old.Phase
	}
	if st.Phase == old.Phase {
		// The reason and message belong to the phase (a rejected pod's).
		st.Reason, st.Message = old.Reason, old.Message
	}

	ready := readyCondition(pod.Spec, &st)
	conds := []v1.PodCondition{
		{Type: v1.PodScheduled, Status: v1.ConditionTrue},
		initializedCondition(pod.Spec, &st, initDone),
		ready,
		ready,
	}
	conds[3].Type = v1.PodReady
	for i := range conds {
		// The generation of the spec this status is of, as upstream's
		// kubelet records it (PodObservedGenerationTracking).
		conds[i].ObservedGeneration = pod.Generation
		conds[i].LastTransitionTime = now
		for _, o := range old.Conditions {
			if o.Type == conds[i].Type && o.Status == conds[i].Status {
				conds[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	st.Conditions = append(conds, in.ResizeConditions...)
	st.ObservedGeneration = pod.Generation
	// Conditions other components own (e.g. DisruptionTarget) are kept.
	for _, o := range old.Conditions {
		if !kubeletCondition(o.Type) {
			st.Conditions = append(st.Conditions, o)
		}
	}
	return st
}

// terminate gives every container of a pod that is done for good a
// terminated state and returns the pod's final phase, as Kubernetes'
// kubelet does for a terminated pod (getPhase with podIsTerminal, then
// the status manager's TerminatePod): Succeeded if every regular
// container exited 0, else Failed; sidecars, stopped because the pod
// ended, do not count. A container with no exit on record counts as a
// failure once the pod has initialized; before, only the init containers
// that were started do.
func terminate(st *v1.PodStatus, initDone bool) v1.PodPhase {
	initialized := initDone
	for _, cs := range st.ContainerStatuses {
		if cs.State.Waiting == nil || cs.LastTerminationState.Terminated != nil {
			initialized = true
		}
	}
	if initialized {
		for i := range st.ContainerStatuses {
			markUnknownExit(&st.ContainerStatuses[i])
		}
	}
	// The init containers up to the last one that was started (at least
	// the first): the ones after it never got their turn.
	started := min(1, len(st.InitContainerStatuses))
	for i, cs := range st.InitContainerStatuses {
		if cs.State.Waiting == nil || cs.LastTerminationState.Terminated != nil {
			started = i + 1
		}
	}
	for i := range st.InitContainerStatuses[:started] {
		markUnknownExit(&st.InitContainerStatuses[i])
	}
	for i := range st.EphemeralContainerStatuses {
		if st.EphemeralContainerStatuses[i].ContainerID != "" {
			markUnknownExit(&st.EphemeralContainerStatuses[i])
		}
	}
	if !initialized {
		return v1.PodFailed
	}
	for _, cs := range st.ContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			return v1.PodFailed
		}
	}
	return v1.PodSucceeded
}

func markUnknownExit(cs *v1.ContainerStatus) {
	if cs.State.Terminated != nil {
		return
	}
	t := unknownExit
	cs.State = v1.ContainerState{Terminated: &t}
	cs.Ready = false
}

// Rejected is the status of a pod the node refused to run (upstream's
// kubelet rejectPod): Failed with the admission's reason and message and
// nothing of containers; the conditions others own are kept.
func Rejected(pod *v1.Pod, reason, message string, now time.Time) v1.PodStatus {
	old := pod.Status
	st := v1.PodStatus{
		Phase:     v1.PodFailed,
		Reason:    reason,
		Message:   "Pod was rejected: " + message,
		QOSClass:  old.QOSClass,
		StartTime: old.StartTime,
		// ObservedGeneration: the spec the refusal is of.
		ObservedGeneration: pod.Generation,
	}
	if st.StartTime == nil {
		t := metav1.NewTime(now.Truncate(time.Second))
		st.StartTime = &t
	}
	for _, c := range old.Conditions {
		if !kubeletCondition(c.Type) {
			st.Conditions = append(st.Conditions, c)
		}
	}
	return st
}

// kubeletCondition reports whether the kubelet owns the condition type;
// the others (DisruptionTarget, readiness gates) are kept as they are.
func kubeletCondition(t v1.PodConditionType) bool {
	switch t {
	case v1.PodScheduled, v1.PodInitialized, v1.ContainersReady, v1.PodReady,
		v1.PodResizePending, v1.PodResizeInProgress:
		return true
	}
	return false
}

// IsSidecar reports whether an init container is a sidecar: a
// restartable init container (restartPolicy Always), which keeps running
// beside the pod's containers.
func IsSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// Initialized reports whether the pod's initialization is done, as
// upstream's Initialized condition says: every regular init container
// completed and every sidecar started, or any regular container has
// started already (a sidecar restarting later does not uninitialize the
// pod).
func Initialized(spec v1.PodSpec, initStatuses, statuses []v1.ContainerStatus) bool {
	if anyRegularStarted(statuses) {
		return true
	}
	return len(incompleteInit(spec, initStatuses)) == 0
}

// anyRegularStarted reports whether a regular container has run (or
// runs) in the pod, as upstream's HasAnyRegularContainerStarted.
func anyRegularStarted(statuses []v1.ContainerStatus) bool {
	for _, cs := range statuses {
		if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
			return true
		}
	}
	return false
}

// incompleteInit lists, in spec order, the init containers not
// initialized: regular ones that have not completed, sidecars that have
// not started.
func incompleteInit(spec v1.PodSpec, initStatuses []v1.ContainerStatus) []string {
	out := []string{}
	for i, c := range spec.InitContainers {
		cs := statusOf(initStatuses, c.Name, i)
		switch {
		case cs == nil:
			out = append(out, c.Name)
		case IsSidecar(&c):
			if cs.Started == nil || !*cs.Started {
				out = append(out, c.Name)
			}
		case cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0:
			out = append(out, c.Name)
		}
	}
	return out
}

func statusOf(statuses []v1.ContainerStatus, name string, hint int) *v1.ContainerStatus {
	if hint < len(statuses) && statuses[hint].Name == name {
		return &statuses[hint]
	}
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// initializedCondition is the pod's Initialized condition, as upstream's
// GeneratePodInitializedCondition.
func initializedCondition(spec v1.PodSpec, st *v1.PodStatus, initDone bool) v1.PodCondition {
	c := v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue}
	if st.Phase == v1.PodSucceeded {
		c.Reason = "PodCompleted"
		return c
	}
	if initDone {
		return c
	}
	c.Status, c.Reason = v1.ConditionFalse, "ContainersNotInitialized"
	c.Message = fmt.Sprintf("containers with incomplete status: %s", incompleteInit(spec, st.InitContainerStatuses))
	return c
}

// readyCondition is the pod's ContainersReady condition (PodReady is the
// same here, having no readiness gates), as upstream's
// GenerateContainersReadyCondition: every sidecar and regular container
// ready, listed in spec order when not; false with PodCompleted or
// PodFailed once the pod has ended.
func readyCondition(spec v1.PodSpec, st *v1.PodStatus) v1.PodCondition {
	c := v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse}
	switch st.Phase {
	case v1.PodSucceeded:
		c.Reason = "PodCompleted"
		return c
	case v1.PodFailed:
		c.Reason = "PodFailed"
		return c
	}
	unready := []string{}
	for i, ic := range spec.InitContainers {
		if !IsSidecar(&ic) {
			continue
		}
		if cs := statusOf(st.InitContainerStatuses, ic.Name, i); cs == nil || !cs.Ready {
			unready = append(unready, ic.Name)
		}
	}
	for i, rc := range spec.Containers {
		if cs := statusOf(st.ContainerStatuses, rc.Name, i); cs == nil || !cs.Ready {
			unready = append(unready, rc.Name)
		}
	}
	if len(unready) == 0 {
		c.Status = v1.ConditionTrue
		return c
	}
	c.Reason = "ContainersNotReady"
	c.Message = fmt.Sprintf("containers with unready status: %s", unready)
	return c
}

// Phase is the pod phase, as Kubernetes computes it from its containers
// (upstream's getPhase): a failed regular init container fails a pod
// that restarts Never; a pod is Pending while a regular init container
// has not completed or a sidecar has not started (before it
// initialized), or a container waits for its first run; Running while a
// container (sidecars included) runs; once every regular container has
// exited, Succeeded or Failed by their exit codes unless the policy
// restarts them. Sidecars that exited do not count.
func Phase(spec v1.PodSpec, initStatuses, statuses []v1.ContainerStatus, initDone bool) v1.PodPhase {
	pendingInit, pendingSidecars, failedInit := 0, 0, 0
	var unknown, running, waiting, stopped, succeeded int
	for i, c := range spec.InitContainers {
		cs := statusOf(initStatuses, c.Name, i)
		if IsSidecar(&c) {
			switch {
			case cs == nil:
				unknown++
			case cs.State.Running != nil:
				if cs.Started == nil || !*cs.Started {
					pendingSidecars++
				}
				running++
			case cs.State.Terminated != nil:
			case cs.State.Waiting != nil:
				if cs.LastTerminationState.Terminated == nil {
					pendingSidecars++
					waiting++
				}
			default:
				pendingSidecars++
				unknown++
			}
			continue
		}
		switch {
		case cs == nil, cs.State.Running != nil:
			pendingInit++
		case cs.State.Terminated != nil:
			if cs.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case cs.State.Waiting != nil:
			if t := cs.LastTerminationState.Terminated; t != nil {
				if t.ExitCode != 0 {
					failedInit++
				}
			} else {
				pendingInit++
			}
		default:
			pendingInit++
		}
	}
	for i, c := range spec.Containers {
		cs := statusOf(statuses, c.Name, i)
		switch {
		case cs == nil:
			unknown++
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}
	if failedInit > 0 && spec.RestartPolicy == v1.RestartPolicyNever {
		return v1.PodFailed
	}
	switch {
	case pendingInit > 0, pendingSidecars > 0 && !initDone, waiting > 0:
		return v1.PodPending
	case running > 0 && unknown == 0:
		return v1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		switch {
		case spec.RestartPolicy == v1.RestartPolicyAlways:
			return v1.PodRunning
		case stopped == succeeded:
			return v1.PodSucceeded
		case spec.RestartPolicy == v1.RestartPolicyNever:
			return v1.PodFailed
		}
		return v1.PodRunning
	}
	return v1.PodPending
}

// ShouldRestart says whether an exited container is run again under the
// pod's restart policy.
func ShouldRestart(policy v1.RestartPolicy, exitCode int) bool {
	switch policy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

func containerStatus(c v1.Container, rt *kruntime.Pod, waiting map[string]Waiting, policy v1.RestartPolicy) v1.ContainerStatus {
	cs := v1.ContainerStatus{Name: c.Name, Image: c.Image}
	f := false
	cs.Started = &f
	latest := rt.Latest(c.Name)
	w, hasWaiting := waiting[c.Name]
	if latest == nil {
		if !hasWaiting {
			w = Waiting{Reason: ReasonContainerCreating}
		}
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		return cs
	}
	cs.ImageID = latest.ImageRef
	cs.ContainerID = containerID(latest)
	// The pod's spec holds the resources the kubelet allocated (the
	// caller passes the allocated pod, as upstream generates the status
	// from it).
	cs.Resources = Resources(&c, latest)
	cs.AllocatedResources = c.Resources.Requests.DeepCopy()
	cs.RestartCount = int32(latest.Attempt)
	if prev := rt.Previous(c.Name); prev != nil && prev.State == kruntime.StateExited {
		cs.LastTerminationState.Terminated = terminated(prev)
	}
	switch latest.State {
	case kruntime.StateRunning:
		t := true
		cs.Started = &t
		cs.Ready = true
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(latest.StartedAt)}
	case kruntime.StateCreated:
		if !hasWaiting {
			w = Waiting{Reason: ReasonContainerCreating}
		}
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
	case kruntime.StateExited:
		if hasWaiting && ShouldRestart(policy, latest.ExitCode) {
			// Waiting to run again: the exited attempt is the last state.
			cs.LastTerminationState.Terminated = terminated(latest)
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		} else {
			cs.State.Terminated = terminated(latest)
		}
	}
	return cs
}

// The smallest CPU shares and CPU limit (millicores) the kernel tells
// apart, as upstream's cm.MinShares and cm.MinMilliCPULimit: values at or
// below them read back the same.
const (
	minShares        = 2
	minMilliCPULimit = 10
	sharesPerCPU     = 1024
)

// Resources is a container status's resources, as upstream's
// convertContainerStatusResources: the allocated requests and limits
// (c's), with the CPU and memory values the runtime actually applied to a
// running container put in their place where the allocation has them.
// A CPU value at or below what the kernel can tell apart stays the
// allocated one when both are that small, so an allocation of 1m does
// not read back as 2m. Memory requests are not cgroup values and stay as
// allocated.
func Resources(c *v1.Container, ctr *kruntime.Container) *v1.ResourceRequirements {
	res := c.Resources.DeepCopy()
	applied := ctr.Resources
	if ctr.State != kruntime.StateRunning || applied == nil {
		return res
	}
	if res.Limits != nil {
		if applied.CPUQuota > 0 && applied.CPUPeriod > 0 {
			milli := applied.CPUQuota * 1000 / int64(applied.CPUPeriod)
			if milli > minMilliCPULimit || res.Limits.Cpu().MilliValue() > minMilliCPULimit {
				res.Limits[v1.ResourceCPU] = *resource.NewMilliQuantity(milli, resource.DecimalSI)
			}
		}
		if applied.MemoryLimit > 0 {
			res.Limits[v1.ResourceMemory] = *resource.NewQuantity(applied.MemoryLimit, resource.BinarySI)
		}
	}
	if res.Requests != nil && applied.CPUShares > 0 {
		milli := SharesToMilliCPU(applied.CPUShares)
		if milli > minShares || res.Requests.Cpu().MilliValue() > minShares {
			res.Requests[v1.ResourceCPU] = *resource.NewMilliQuantity(milli, resource.DecimalSI)
		}
	}
	return res
}

// SharesToMilliCPU converts CPU shares back to millicores, rounding up as
// upstream's sharesToMilliCPU, so a request converted to shares and back
// is the request again.
func SharesToMilliCPU(shares uint64) int64 {
	if shares < minShares {
		return 0
	}
	return int64((shares*1000 + sharesPerCPU - 1) / sharesPerCPU)
}

func terminated(c *kruntime.Container) *v1.ContainerStateTerminated {
	reason := c.Reason
	if reason == "" {
		reason = ReasonError
		if c.ExitCode == 0 {
			reason = ReasonCompleted
		}
	}
	return &v1.ContainerStateTerminated{
		ExitCode:    int32(c.ExitCode),
		Reason:      reason,
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: containerID(c),
	}
}

func containerID(c *kruntime.Container) string {
	if c.ID == "" {
		return ""
	}
	return "runc://" + c.ID
}

func condition(t v1.PodConditionType, ok bool, reason, message string) v1.PodCondition {
	if ok {
		return v1.PodCondition{Type: t, Status: v1.ConditionTrue}
	}
	return v1.PodCondition{Type: t, Status: v1.ConditionFalse, Reason: reason, Message: message}
}

func isTerminal(p v1.PodPhase) bool { return p == v1.PodSucceeded || p == v1.PodFailed }

// IsTerminal reports whether a pod has finished for good.
func IsTerminal(p v1.PodPhase) bool { return isTerminal(p) }
