package status

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func pod(policy v1.RestartPolicy, names ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: v1.PodSpec{RestartPolicy: policy, NodeName: "n"}}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: n, Image: "busybox"})
	}
	return p
}

func running(name string, attempt int) kruntime.Container {
	return kruntime.Container{Name: name, Attempt: attempt, ID: name + "-id", State: kruntime.StateRunning, StartedAt: t0, ImageRef: "r@sha256:1"}
}

func exited(name string, attempt, code int, reason string) kruntime.Container {
	return kruntime.Container{Name: name, Attempt: attempt, ID: name + "-id", State: kruntime.StateExited, StartedAt: t0, FinishedAt: t0.Add(time.Second), ExitCode: code, Reason: reason}
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name       string
		pod        *v1.Pod
		rt         *kruntime.Pod
		waiting    map[string]Waiting
		phase      v1.PodPhase
		ready      bool
		state      string // running, waiting:<reason>, terminated:<reason>
		restarts   int32
		lastExit   int32 // -1: no last state
		wantPodIP  string
		noStatuses bool
	}{
		{name: "nothing created yet is ContainerCreating", pod: pod(v1.RestartPolicyAlways, "c"), phase: v1.PodPending, state: "waiting:ContainerCreating", lastExit: -1},
		{name: "a running container makes the pod Running and Ready", pod: pod(v1.RestartPolicyAlways, "c"),
			rt: &kruntime.Pod{IP: "10.1.0.5", Containers: []kruntime.Container{running("c", 0)}}, phase: v1.PodRunning, ready: true, state: "running", lastExit: -1, wantPodIP: "10.1.0.5"},
		{name: "Never and exit 0 is Succeeded", pod: pod(v1.RestartPolicyNever, "c"),
			rt: &kruntime.Pod{Containers: []kruntime.Container{exited("c", 0, 0, "Completed")}}, phase: v1.PodSucceeded, state: "terminated:Completed", lastExit: -1},
		{name: "Never and a failure is Failed", pod: pod(v1.RestartPolicyNever, "c"),
			rt: &kruntime.Pod{Containers: []kruntime.Container{exited("c", 0, 3, "Error")}}, phase: v1.PodFailed, state: "terminated:Error", lastExit: -1},
		{name: "OnFailure and exit 0 is Succeeded", pod: pod(v1.RestartPolicyOnFailure, "c"),
			rt: &kruntime.Pod{Containers: []kruntime.Container{exited("c", 2, 0, "Completed"), exited("c", 1, 1, "Error")}}, phase: v1.PodSucceeded, state: "terminated:Completed", restarts: 2, lastExit: 1},
		{name: "a crash in back-off waits with the crash as last state", pod: pod(v1.RestartPolicyAlways, "c"),
			rt:      &kruntime.Pod{Containers: []kruntime.Container{exited("c", 3, 1, "Error")}},
			waiting: map[string]Waiting{"c": {Reason: ReasonCrashLoopBackOff, Message: "back-off 40s"}},
			phase:   v1.PodRunning, state: "waiting:CrashLoopBackOff", restarts: 3, lastExit: 1},
		{name: "OOMKilled is the terminated reason", pod: pod(v1.RestartPolicyNever, "c"),
			rt: &kruntime.Pod{Containers: []kruntime.Container{exited("c", 0, 137, "OOMKilled")}}, phase: v1.PodFailed, state: "terminated:OOMKilled", lastExit: -1},
		{name: "a restarted container reports the previous attempt", pod: pod(v1.RestartPolicyAlways, "c"),
			rt: &kruntime.Pod{Containers: []kruntime.Container{exited("c", 0, 2, "Error"), running("c", 1)}}, phase: v1.PodRunning, ready: true, state: "running", restarts: 1, lastExit: 2},
		{name: "an image pull failure is the waiting reason", pod: pod(v1.RestartPolicyAlways, "c"),
			rt: &kruntime.Pod{IP: "10.1.0.5"}, waiting: map[string]Waiting{"c": {Reason: ReasonImagePullBackOff, Message: "Back-off pulling image"}},
			phase: v1.PodPending, state: "waiting:ImagePullBackOff", lastExit: -1, wantPodIP: "10.1.0.5"},
		{name: "one of two running is not Ready", pod: pod(v1.RestartPolicyAlways, "a", "b"),
			rt: &kruntime.Pod{Containers: []kruntime.Container{running("a", 0)}}, phase: v1.PodPending, state: "running", lastExit: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Compute(Input{Pod: tt.pod, Runtime: tt.rt, Waiting: tt.waiting, HostIP: "192.168.1.1", Now: t0})
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s", st.Phase, tt.phase)
			}
			if got := cond(st, v1.PodReady) == v1.ConditionTrue; got != tt.ready {
				t.Errorf("ready %v, want %v", got, tt.ready)
			}
			if st.PodIP != tt.wantPodIP || st.HostIP != "192.168.1.1" {
				t.Errorf("podIP %q hostIP %q", st.PodIP, st.HostIP)
			}
			cs := st.ContainerStatuses[0]
			if got := stateOf(cs); got != tt.state {
				t.Errorf("state %s, want %s", got, tt.state)
			}
			if cs.RestartCount != tt.restarts {
				t.Errorf("restarts %d, want %d", cs.RestartCount, tt.restarts)
			}
			last := int32(-1)
			if lt := cs.LastTerminationState.Terminated; lt != nil {
				last = lt.ExitCode
			}
			if last != tt.lastExit {
				t.Errorf("last exit %d, want %d", last, tt.lastExit)
			}
		})
	}
}

func TestComputeKeepsTransitionTimesAndTerminalPhase(t *testing.T) {
	p := pod(v1.RestartPolicyAlways, "c")
	rt := &kruntime.Pod{Containers: []kruntime.Container{running("c", 0)}}
	first := Compute(Input{Pod: p, Runtime: rt, Now: t0})
	p.Status = first
	again := Compute(Input{Pod: p, Runtime: rt, Now: t0.Add(time.Hour)})
	for i := range again.Conditions {
		if !again.Conditions[i].LastTransitionTime.Equal(&first.Conditions[i].LastTransitionTime) {
			t.Errorf("%s transition time moved", again.Conditions[i].Type)
		}
	}
	if !again.StartTime.Equal(first.StartTime) {
		t.Error("start time moved")
	}
	p.Status.Phase = v1.PodFailed
	if got := Compute(Input{Pod: p, Runtime: rt, Now: t0}).Phase; got != v1.PodFailed {
		t.Errorf("a Failed pod became %s", got)
	}
}

// The status says which generation of the spec it is of, and so does
// each condition the kubelet owns; the others keep theirs.
func TestComputeObservedGeneration(t *testing.T) {
	p := pod(v1.RestartPolicyAlways, "c")
	p.Generation = 3
	p.Status.Conditions = []v1.PodCondition{{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, ObservedGeneration: 1}}
	rt := &kruntime.Pod{Containers: []kruntime.Container{running("c", 0)}}
	st := Compute(Input{Pod: p, Runtime: rt, Now: t0})
	if st.ObservedGeneration != 3 {
		t.Errorf("observedGeneration %d, want 3", st.ObservedGeneration)
	}
	for _, c := range st.Conditions {
		want := int64(3)
		if c.Type == v1.DisruptionTarget {
			want = 1
		}
		if c.ObservedGeneration != want {
			t.Errorf("%s observedGeneration %d, want %d", c.Type, c.ObservedGeneration, want)
		}
	}
	if got := Rejected(p, "NodePorts", "no", t0).ObservedGeneration; got != 3 {
		t.Errorf("rejected: observedGeneration %d, want 3", got)
	}
}

func TestShouldRestart(t *testing.T) {
	for _, tt := range []struct {
		policy v1.RestartPolicy
		code   int
		want   bool
	}{
		{v1.RestartPolicyAlways, 0, true}, {v1.RestartPolicyAlways, 1, true},
		{v1.RestartPolicyOnFailure, 0, false}, {v1.RestartPolicyOnFailure, 137, true},
		{v1.RestartPolicyNever, 0, false}, {v1.RestartPolicyNever, 1, false},
	} {
		if got := ShouldRestart(tt.policy, tt.code); got != tt.want {
			t.Errorf("%s exit %d: %v, want %v", tt.policy, tt.code, got, tt.want)
		}
	}
}

func cond(st v1.PodStatus, t v1.PodConditionType) v1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func stateOf(cs v1.ContainerStatus) string {
	switch {
	case cs.State.Running != nil:
		return "running"
	case cs.State.Waiting != nil:
		return "waiting:" + cs.State.Waiting.Reason
	case cs.State.Terminated != nil:
		return "terminated:" + cs.State.Terminated.Reason
	}
	return ""
}

func TestComputeTerminal(t *testing.T) {
	disruption := v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: "EvictionByEvictionAPI"}
	withInit := func(p *v1.Pod) *v1.Pod {
		p.Spec.InitContainers = []v1.Container{{Name: "i1"}, {Name: "i2"}}
		return p
	}
	tests := []struct {
		name   string
		pod    *v1.Pod
		rt     *kruntime.Pod
		phase  v1.PodPhase
		states []string // of the containers, then the init containers
		exits  []int32
	}{
		{name: "Always killed by SIGKILL is Failed", pod: pod(v1.RestartPolicyAlways, "c"),
			rt: &kruntime.Pod{Containers: []kruntime.Container{exited("c", 0, 137, "Error")}}, phase: v1.PodFailed,
			states: []string{"terminated:Error"}, exits: []int32{137}},
		{name: "Always with every container exited 0 is Succeeded", pod: pod(v1.RestartPolicyAlways, "a", "b"),
			rt:    &kruntime.Pod{Containers: []kruntime.Container{exited("a", 0, 0, ""), exited("b", 2, 0, "")}},
			phase: v1.PodSucceeded, states: []string{"terminated:Completed", "terminated:Completed"}, exits: []int32{0, 0}},
		{name: "one failure among exits makes it Failed", pod: pod(v1.RestartPolicyOnFailure, "a", "b"),
			rt:    &kruntime.Pod{Containers: []kruntime.Container{exited("a", 0, 0, ""), exited("b", 0, 143, "")}},
			phase: v1.PodFailed, states: []string{"terminated:Completed", "terminated:Error"}, exits: []int32{0, 143}},
		{name: "a container that never ran is ContainerStatusUnknown", pod: pod(v1.RestartPolicyAlways, "a", "b"),
			rt:    &kruntime.Pod{Containers: []kruntime.Container{exited("a", 0, 0, "")}},
			phase: v1.PodFailed, states: []string{"terminated:Completed", "terminated:ContainerStatusUnknown"}, exits: []int32{0, 137}},
		{name: "a pod that never ran is Failed", pod: pod(v1.RestartPolicyAlways, "c"),
			phase: v1.PodFailed, states: []string{"terminated:ContainerStatusUnknown"}, exits: []int32{137}},
		{name: "before initializing, only the started init containers end", pod: withInit(pod(v1.RestartPolicyAlways, "c")),
			rt:     &kruntime.Pod{Containers: []kruntime.Container{exited("i1", 0, 137, "")}},
			phase:  v1.PodFailed,
			states: []string{"waiting:PodInitializing", "terminated:Error", "waiting:PodInitializing"}, exits: []int32{-1, 137, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pod.Status.Phase = v1.PodRunning
			tt.pod.Status.PodIP = "10.1.0.9"
			tt.pod.Status.Conditions = []v1.PodCondition{disruption}
			st := Compute(Input{Pod: tt.pod, Runtime: tt.rt, Terminal: true, Now: t0,
				Waiting: map[string]Waiting{"c": {Reason: ReasonCrashLoopBackOff}}})
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s", st.Phase, tt.phase)
			}
			all := append(append([]v1.ContainerStatus{}, st.ContainerStatuses...), st.InitContainerStatuses...)
			for i, cs := range all {
				if got := stateOf(cs); got != tt.states[i] {
					t.Errorf("%s: state %s, want %s", cs.Name, got, tt.states[i])
				}
				exit := int32(-1)
				if cs.State.Terminated != nil {
					exit = cs.State.Terminated.ExitCode
				}
				if exit != tt.exits[i] {
					t.Errorf("%s: exit %d, want %d", cs.Name, exit, tt.exits[i])
				}
			}
			for _, c := range []v1.PodConditionType{v1.PodReady, v1.ContainersReady} {
				if cond(st, c) != v1.ConditionFalse {
					t.Errorf("%s = %s, want False", c, cond(st, c))
				}
			}
			if cond(st, v1.DisruptionTarget) != v1.ConditionTrue {
				t.Error("DisruptionTarget condition lost")
			}
			if st.PodIP != "10.1.0.9" {
				t.Errorf("podIP %q, want the one it had", st.PodIP)
			}
		})
	}
}

func TestRejected(t *testing.T) {
	p := pod(v1.RestartPolicyAlways, "c")
	p.Status = v1.PodStatus{Phase: v1.PodPending, QOSClass: v1.PodQOSBestEffort, Conditions: []v1.PodCondition{
		{Type: v1.PodScheduled, Status: v1.ConditionTrue}, {Type: "example.com/gate", Status: v1.ConditionFalse},
	}}
	st := Rejected(p, "NodePorts", "Predicate NodePorts failed: x", t0)
	if st.Phase != v1.PodFailed || st.Reason != "NodePorts" || st.Message != "Pod was rejected: Predicate NodePorts failed: x" {
		t.Errorf("status %s %s %q", st.Phase, st.Reason, st.Message)
	}
	if st.QOSClass != v1.PodQOSBestEffort || st.StartTime == nil || len(st.ContainerStatuses) != 0 {
		t.Errorf("qos %s start %v containers %d", st.QOSClass, st.StartTime, len(st.ContainerStatuses))
	}
	if len(st.Conditions) != 1 || st.Conditions[0].Type != "example.com/gate" {
		t.Errorf("conditions %+v, want only the one the kubelet does not own", st.Conditions)
	}
	// Later computes keep the rejection's reason with its phase.
	p.Status = st
	if again := Compute(Input{Pod: p, Now: t0, Terminal: true}); again.Phase != v1.PodFailed || again.Reason != "NodePorts" {
		t.Errorf("recomputed: %s %s", again.Phase, again.Reason)
	}
}
