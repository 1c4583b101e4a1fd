package status

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// sidecarPod has a sidecar "sc", a regular init container "i1" after it,
// and a container "c".
func sidecarPod(policy v1.RestartPolicy) *v1.Pod {
	p := pod(policy, "c")
	always := v1.ContainerRestartPolicyAlways
	p.Spec.InitContainers = []v1.Container{{Name: "sc", Image: "busybox", RestartPolicy: &always}, {Name: "i1", Image: "busybox"}}
	return p
}

func TestComputeSidecars(t *testing.T) {
	tests := []struct {
		name        string
		pod         *v1.Pod
		rt          []kruntime.Container
		terminal    bool
		phase       v1.PodPhase
		initialized v1.ConditionStatus
		initMessage string
		ready       v1.ConditionStatus
		readyReason string
		readyMsg    string
	}{
		{name: "a running sidecar and a running init container: Pending", pod: sidecarPod(v1.RestartPolicyNever),
			rt:    []kruntime.Container{running("sc", 0), running("i1", 0)},
			phase: v1.PodPending, initialized: v1.ConditionFalse, initMessage: "containers with incomplete status: [i1]",
			ready: v1.ConditionFalse, readyReason: "ContainersNotReady", readyMsg: "containers with unready status: [c]"},
		{name: "a sidecar not started yet is incomplete", pod: sidecarPod(v1.RestartPolicyNever),
			phase: v1.PodPending, initialized: v1.ConditionFalse, initMessage: "containers with incomplete status: [sc i1]",
			ready: v1.ConditionFalse, readyReason: "ContainersNotReady", readyMsg: "containers with unready status: [sc c]"},
		{name: "sidecar and container running: Running and Ready", pod: sidecarPod(v1.RestartPolicyNever),
			rt:    []kruntime.Container{running("sc", 0), exited("i1", 0, 0, ""), running("c", 0)},
			phase: v1.PodRunning, initialized: v1.ConditionTrue, ready: v1.ConditionTrue},
		{name: "the container exited, the sidecar runs: still Running", pod: sidecarPod(v1.RestartPolicyNever),
			rt:    []kruntime.Container{running("sc", 0), exited("i1", 0, 0, ""), exited("c", 0, 0, "")},
			phase: v1.PodRunning, initialized: v1.ConditionTrue, ready: v1.ConditionFalse, readyReason: "ContainersNotReady", readyMsg: "containers with unready status: [c]"},
		{name: "the sidecar stopped after the container succeeded: Succeeded", pod: sidecarPod(v1.RestartPolicyNever),
			rt:    []kruntime.Container{exited("sc", 0, 137, ""), exited("i1", 0, 0, ""), exited("c", 0, 0, "")},
			phase: v1.PodSucceeded, initialized: v1.ConditionTrue, ready: v1.ConditionFalse, readyReason: "PodCompleted"},
		{name: "the container failed, the sidecar stopped: Failed", pod: sidecarPod(v1.RestartPolicyNever),
			rt:    []kruntime.Container{exited("sc", 0, 0, ""), exited("i1", 0, 0, ""), exited("c", 0, 2, "")},
			phase: v1.PodFailed, initialized: v1.ConditionTrue, ready: v1.ConditionFalse, readyReason: "PodFailed"},
		{name: "a sidecar restarting after initialization keeps the pod initialized", pod: sidecarPod(v1.RestartPolicyAlways),
			rt:    []kruntime.Container{exited("sc", 1, 1, ""), exited("i1", 0, 0, ""), running("c", 0)},
			phase: v1.PodRunning, initialized: v1.ConditionTrue, ready: v1.ConditionFalse, readyReason: "ContainersNotReady", readyMsg: "containers with unready status: [sc]"},
		{name: "deleted with the sidecar's exit lost: the containers' phase", pod: sidecarPod(v1.RestartPolicyAlways),
			rt: []kruntime.Container{exited("i1", 0, 0, ""), exited("c", 0, 0, "")}, terminal: true,
			phase: v1.PodSucceeded, initialized: v1.ConditionTrue, ready: v1.ConditionFalse, readyReason: "PodCompleted"},
		{name: "a failed init container fails a Never pod", pod: withInits(pod(v1.RestartPolicyNever, "c"), "init1", "init2"),
			rt:    []kruntime.Container{exited("init1", 0, 1, "")},
			phase: v1.PodFailed, initialized: v1.ConditionFalse, initMessage: "containers with incomplete status: [init1 init2]",
			ready: v1.ConditionFalse, readyReason: "PodFailed"},
		{name: "a failed init container of an Always pod waits to run again: Pending", pod: withInits(pod(v1.RestartPolicyAlways, "c"), "init1", "init2"),
			rt:    []kruntime.Container{exited("init1", 2, 1, "")},
			phase: v1.PodPending, initialized: v1.ConditionFalse, initMessage: "containers with incomplete status: [init1 init2]",
			ready: v1.ConditionFalse, readyReason: "ContainersNotReady", readyMsg: "containers with unready status: [c]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Compute(Input{Pod: tt.pod, Runtime: &kruntime.Pod{Containers: tt.rt}, Terminal: tt.terminal, Now: t0,
				Waiting: map[string]Waiting{"init1": {Reason: ReasonCrashLoopBackOff}}})
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s", st.Phase, tt.phase)
			}
			init, ready := condOf(st, v1.PodInitialized), condOf(st, v1.PodReady)
			if init.Status != tt.initialized || init.Message != tt.initMessage {
				t.Errorf("Initialized %s %q, want %s %q", init.Status, init.Message, tt.initialized, tt.initMessage)
			}
			if ready.Status != tt.ready || ready.Reason != tt.readyReason || ready.Message != tt.readyMsg {
				t.Errorf("Ready %s %s %q, want %s %s %q", ready.Status, ready.Reason, ready.Message, tt.ready, tt.readyReason, tt.readyMsg)
			}
		})
	}
}

func TestInitContainerStatuses(t *testing.T) {
	p := withInits(pod(v1.RestartPolicyNever, "c"), "init1", "init2")
	st := Compute(Input{Pod: p, Runtime: &kruntime.Pod{Containers: []kruntime.Container{exited("init1", 0, 0, ""), running("init2", 0)}}, Now: t0})
	i1, i2 := st.InitContainerStatuses[0], st.InitContainerStatuses[1]
	if !i1.Ready || i1.State.Terminated == nil {
		t.Errorf("a completed init container is Ready and terminated: %+v", i1)
	}
	if i2.Ready || i2.Started == nil || !*i2.Started {
		t.Errorf("a running init container is started, not ready: %+v", i2)
	}
	if w := st.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != ReasonPodInitializing {
		t.Errorf("the container waits with PodInitializing: %+v", st.ContainerStatuses[0].State)
	}
	fresh := Compute(Input{Pod: p, Now: t0})
	if w := fresh.InitContainerStatuses[1].State.Waiting; w == nil || w.Reason != ReasonPodInitializing {
		t.Errorf("an init container not run yet waits with PodInitializing: %+v", fresh.InitContainerStatuses[1].State)
	}
}

func TestEphemeralContainerStatuses(t *testing.T) {
	p := pod(v1.RestartPolicyAlways, "c")
	p.Spec.EphemeralContainers = []v1.EphemeralContainer{
		{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}, TargetContainerName: "c"},
		{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "new", Image: "busybox"}},
	}
	st := Compute(Input{Pod: p, Runtime: &kruntime.Pod{Containers: []kruntime.Container{running("c", 0), exited("dbg", 0, 1, "")}}, Now: t0})
	if len(st.EphemeralContainerStatuses) != 2 {
		t.Fatalf("ephemeral statuses %+v", st.EphemeralContainerStatuses)
	}
	dbg, fresh := st.EphemeralContainerStatuses[0], st.EphemeralContainerStatuses[1]
	if dbg.State.Terminated == nil || dbg.ContainerID != "runc://dbg-id" || dbg.Image != "busybox" {
		t.Errorf("an exited ephemeral container stays terminated: %+v", dbg)
	}
	if fresh.State.Waiting == nil || fresh.State.Waiting.Reason != ReasonContainerCreating {
		t.Errorf("a new ephemeral container is being created: %+v", fresh)
	}
	if st.Phase != v1.PodRunning || condOf(st, v1.PodReady).Status != v1.ConditionTrue {
		t.Errorf("ephemeral containers do not count for phase or readiness: %s %+v", st.Phase, condOf(st, v1.PodReady))
	}
}

func withInits(p *v1.Pod, names ...string) *v1.Pod {
	for _, n := range names {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: n, Image: "busybox"})
	}
	return p
}

func condOf(st v1.PodStatus, t v1.PodConditionType) v1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return v1.PodCondition{}
}
