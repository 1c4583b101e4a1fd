package core

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestPodPrepareForCreate(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"}
	})
	podStrategy{}.PrepareForCreate(pod)
	// Requests defaulted from limits make the pod Guaranteed.
	eq(t, pod.Status, corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSGuaranteed})
}

func TestPodPrepareForUpdateKeepsStatus(t *testing.T) {
	old := defaultedPod(nil)
	old.Status = corev1.PodStatus{Phase: corev1.PodRunning}
	pod := old.DeepCopy()
	pod.Status = corev1.PodStatus{Phase: corev1.PodFailed}
	podStrategy{}.PrepareForUpdate(pod, old)
	eq(t, pod.Status.Phase, corev1.PodRunning)
}

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Pod)
		update func(*corev1.Pod)
		want   []string
	}{
		{"no change is valid", nil, nil, nil},
		{"images may change", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.26" }, nil},
		{"init container images may change", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1", ImagePullPolicy: corev1.PullIfNotPresent,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile}}
		}, func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:2" }, nil},
		{"an image may not be emptied", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			[]string{"spec.containers[0].image: Required value"}},
		{"other container fields may not change", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Args = []string{"-v"} },
			[]string{"spec: Forbidden"}},
		{"containers may not be added", nil, func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name = "sidecar"
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []string{"spec.containers: Forbidden"}},
		{"nodeName may not change", func(p *corev1.Pod) { p.Spec.NodeName = "node-a" }, func(p *corev1.Pod) { p.Spec.NodeName = "node-b" },
			[]string{"spec: Forbidden"}},
		{"nodeName may not be set by an update", nil, func(p *corev1.Pod) { p.Spec.NodeName = "node-a" },
			[]string{"spec: Forbidden"}},
		{"activeDeadlineSeconds may be set", nil, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(60)) }, nil},
		{"activeDeadlineSeconds may decrease", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(60)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(30)) }, nil},
		{"activeDeadlineSeconds may not increase", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(60)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(90)) },
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"activeDeadlineSeconds may not be unset", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(60)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"tolerations may be added", nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}, nil},
		{"a toleration's seconds may change", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(30))}}
		}, func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To(int64(60)) }, nil},
		{"tolerations may not be removed", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}, func(p *corev1.Pod) { p.Spec.Tolerations = nil }, []string{"spec.tolerations: Forbidden"}},
		{"scheduling gates may be removed", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }, nil},
		{"scheduling gates may not be added", nil, func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, []string{"spec.schedulingGates[0].name: Forbidden"}},
		{"terminationGracePeriodSeconds may change", nil, func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To(int64(1)) }, nil},
		{"the new spec is validated too", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx " },
			[]string{"spec.containers[0].image: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := defaultedPod(tt.old)
			pod := old.DeepCopy()
			if tt.update != nil {
				tt.update(pod)
			}
			checkErrs(t, podStrategy{}.ValidateUpdate(pod, old), tt.want...)
		})
	}
}

func TestValidatePodUpdateMessage(t *testing.T) {
	old := defaultedPod(nil)
	pod := old.DeepCopy()
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	errs := podStrategy{}.ValidateUpdate(pod, old)
	want := "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`," +
		"`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
		"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Detail, want) {
		t.Fatalf("got %v, want one error %q", errs, want)
	}
}

func TestValidatePodStatusUpdate(t *testing.T) {
	terminated := func(name string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	running := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	}
	tests := []struct {
		name   string
		old    func(*corev1.Pod)
		update func(*corev1.Pod)
		want   []string
	}{
		{"a phase change is valid", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }, nil},
		{"phase is a known value", nil, func(p *corev1.Pod) { p.Status.Phase = "Sleeping" },
			[]string{"status.phase: Unsupported value"}},
		{"nodeName does not change through status", nil, func(p *corev1.Pod) { p.Spec.NodeName = "node-a" },
			[]string{"status.nodeName: Forbidden"}},
		{"pod IPs are valid", nil, func(p *corev1.Pod) {
			p.Status.PodIP = "10.1.0.5"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.1.0.5"}, {IP: "nope"}}
		}, []string{"status.podIPs[1]: Invalid value"}},
		{"hostIPs start with hostIP", nil, func(p *corev1.Pod) {
			p.Status.HostIP = "192.168.0.2"
			p.Status.HostIPs = []corev1.HostIP{{IP: "192.168.0.3"}}
		}, []string{"status.hostIPs[0].ip: Invalid value"}},
		{"custom condition types are qualified names", nil, func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}, {Type: "not ok"}}
		}, []string{"status.conditions[1].type: Invalid value"}},
		{"a finished container of a Never pod stays finished", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status.ContainerStatuses = []corev1.ContainerStatus{terminated("app", 0)}
		}, func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("app")} },
			[]string{"status.containerStatuses[0].state: Forbidden"}},
		{"a failed container of an OnFailure pod may restart", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			p.Status.ContainerStatuses = []corev1.ContainerStatus{terminated("app", 1)}
		}, func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("app")} }, nil},
		{"an Always pod restarts anything", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{terminated("app", 0)}
		}, func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{running("app")} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := defaultedPod(tt.old)
			pod := old.DeepCopy()
			tt.update(pod)
			checkErrs(t, podStrategy{}.ValidateStatusUpdate(pod, old), tt.want...)
		})
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	tests := []struct {
		name      string
		resources corev1.ResourceRequirements
		want      corev1.PodQOSClass
	}{
		{"no resources is BestEffort", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"limits equal to requests on cpu and memory is Guaranteed", corev1.ResourceRequirements{Limits: rl("1", "1Gi"), Requests: rl("1", "1Gi")}, corev1.PodQOSGuaranteed},
		{"requests below limits is Burstable", corev1.ResourceRequirements{Limits: rl("1", "1Gi"), Requests: rl("500m", "1Gi")}, corev1.PodQOSBurstable},
		{"a cpu limit alone is Burstable", corev1.ResourceRequirements{Limits: rl("1", ""), Requests: rl("1", "")}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod()
			pod.Spec.Containers[0].Resources = tt.resources
			eq(t, qosClass(pod), tt.want)
		})
	}
}

func TestPodGracePeriod(t *testing.T) {
	tests := []struct {
		name      string
		nodeName  string
		phase     corev1.PodPhase
		requested *int64
		want      int64
	}{
		{"an unscheduled pod goes at once", "", corev1.PodPending, nil, 0},
		{"a bound pod waits its termination grace period", "node-a", corev1.PodRunning, nil, 30},
		{"the client's grace period wins", "node-a", corev1.PodRunning, ptr.To(int64(5)), 5},
		{"a finished pod goes at once", "node-a", corev1.PodSucceeded, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := defaultedPod(func(p *corev1.Pod) { p.Spec.NodeName = tt.nodeName })
			pod.Status.Phase = tt.phase
			got, graceful := podStrategy{}.GracePeriod(pod, tt.requested)
			eq(t, got, tt.want)
			eq(t, graceful, true)
		})
	}
}

func TestPrepareForCreateRecordsSchedulingGates(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/wait"}}}}
	podStrategy{}.PrepareForCreate(pod)
	if len(pod.Status.Conditions) != 1 || pod.Status.Conditions[0].Reason != corev1.PodReasonSchedulingGated || pod.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Fatalf("conditions %+v", pod.Status.Conditions)
	}
	ungated := &corev1.Pod{}
	podStrategy{}.PrepareForCreate(ungated)
	if len(ungated.Status.Conditions) != 0 || ungated.Status.Phase != corev1.PodPending {
		t.Fatalf("ungated status %+v", ungated.Status)
	}
}
