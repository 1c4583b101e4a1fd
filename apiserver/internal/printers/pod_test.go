package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Container states for the pod cases.
func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal}}
}

// finished is a last termination state d ago.
func finished(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(d)}}
}

func condition(typ corev1.PodConditionType, status corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: typ, Status: status}
}

// pod builds a pod with the named app and init containers; sidecars are
// init containers with restartPolicy Always.
func pod(containers, inits, sidecars []string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(72 * time.Hour)}}
	for _, n := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n})
	}
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n})
	}
	for _, n := range sidecars {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)})
	}
	return p
}

// TestPodStatus covers the Ready, Status and Restarts cells: Kubernetes'
// printPod logic.
func TestPodStatus(t *testing.T) {
	tests := []struct {
		name     string
		pod      func() corev1.Pod
		ready    string
		status   string
		restarts string
	}{
		{"pending pod without statuses shows its phase", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodPending
			return p
		}, "0/1", "Pending", "0"},
		{"running pod counts ready containers", func() corev1.Pod {
			p := pod([]string{"app", "log"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: running()},
				{Name: "log", Ready: false, State: running()},
			}
			return p
		}, "1/2", "Running", "0"},
		{"status reason overrides the phase", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted"
			return p
		}, "0/1", "Evicted", "0"},
		{"scheduling gates read SchedulingGated", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}
			return p
		}, "0/1", "SchedulingGated", "0"},
		{"crash loop shows the waiting reason and when it last restarted", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", RestartCount: 5, State: waiting("CrashLoopBackOff"), LastTerminationState: finished(2 * time.Minute)},
			}
			return p
		}, "0/1", "CrashLoopBackOff", "5 (2m ago)"},
		{"restarts sum over containers, latest termination wins", func() corev1.Pod {
			p := pod([]string{"a", "b"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", Ready: true, RestartCount: 1, State: running(), LastTerminationState: finished(time.Hour)},
				{Name: "b", Ready: true, RestartCount: 2, State: running(), LastTerminationState: finished(90 * time.Second)},
			}
			return p
		}, "2/2", "Running", "3 (90s ago)"},
		{"restarts without a termination time have no ago", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 4, State: running()}}
			return p
		}, "1/1", "Running", "4"},
		{"terminated container shows its reason", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("OOMKilled", 137, 0)}}
			return p
		}, "0/1", "OOMKilled", "0"},
		{"terminated container without reason shows its exit code", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("", 2, 0)}}
			return p
		}, "0/1", "ExitCode:2", "0"},
		{"terminated container without reason shows its signal", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("", 143, 15)}}
			return p
		}, "0/1", "Signal:15", "0"},
		{"first container's state wins over later ones", func() corev1.Pod {
			p := pod([]string{"a", "b"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", State: waiting("ImagePullBackOff")},
				{Name: "b", State: waiting("ContainerCreating")},
			}
			return p
		}, "0/2", "ImagePullBackOff", "0"},
		{"completed pod", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0, 0)}}
			return p
		}, "0/1", "Completed", "0"},
		{"completed container beside a running ready one reads Running", func() corev1.Pod {
			p := pod([]string{"app", "job"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue)}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: running()},
				{Name: "job", State: terminated("Completed", 0, 0)},
			}
			return p
		}, "1/2", "Running", "0"},
		{"completed container beside a running one without pod Ready reads NotReady", func() corev1.Pod {
			p := pod([]string{"app", "job"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "app", Ready: true, State: running()},
				{Name: "job", State: terminated("Completed", 0, 0)},
			}
			return p
		}, "1/2", "NotReady", "0"},
		{"first init container running", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate", "seed"}, nil)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "migrate", State: running()},
				{Name: "seed", State: waiting("PodInitializing")},
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}}
			return p
		}, "0/1", "Init:0/2", "0"},
		{"second init container running after the first succeeded", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate", "seed"}, nil)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "migrate", State: terminated("Completed", 0, 0)},
				{Name: "seed", State: running()},
			}
			return p
		}, "0/1", "Init:1/2", "0"},
		{"init container waiting on PodInitializing counts as not started", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate"}, nil)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: waiting("PodInitializing")}}
			return p
		}, "0/1", "Init:0/1", "0"},
		{"init container crash loop shows its reason and restarts", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate"}, nil)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "migrate", RestartCount: 3, State: waiting("CrashLoopBackOff"), LastTerminationState: finished(30 * time.Second)},
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}}
			return p
		}, "0/1", "Init:CrashLoopBackOff", "3 (30s ago)"},
		{"failed init container shows its reason", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate"}, nil)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: terminated("Error", 1, 0)}}
			return p
		}, "0/1", "Init:Error", "0"},
		{"failed init container without reason shows its exit code", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate"}, nil)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: terminated("", 3, 0)}}
			return p
		}, "0/1", "Init:ExitCode:3", "0"},
		{"failed init container without reason shows its signal", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate"}, nil)
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: terminated("", 137, 9)}}
			return p
		}, "0/1", "Init:Signal:9", "0"},
		{"init restarts stop counting once the pod runs", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate"}, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "migrate", RestartCount: 2, State: terminated("Completed", 0, 0), LastTerminationState: finished(time.Hour)},
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}
			return p
		}, "1/1", "Running", "0"},
		{"started sidecar counts as a ready container with its restarts", func() corev1.Pod {
			p := pod([]string{"app"}, []string{"migrate"}, []string{"proxy"})
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "migrate", RestartCount: 5, State: terminated("Completed", 0, 0)},
				{Name: "proxy", Ready: true, Started: ptr(true), RestartCount: 1, State: running(), LastTerminationState: finished(10 * time.Minute)},
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}
			return p
		}, "2/2", "Running", "1 (10m ago)"},
		{"sidecar not yet started holds initialization", func() corev1.Pod {
			p := pod([]string{"app"}, nil, []string{"proxy"})
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Started: ptr(false), State: running()}}
			return p
		}, "0/2", "Init:0/1", "0"},
		{"deleted running pod is Terminating", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.DeletionTimestamp = agoPtr(time.Second)
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}
			return p
		}, "1/1", "Terminating", "0"},
		{"deleted pod on a lost node is Unknown", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.DeletionTimestamp = agoPtr(time.Second)
			p.Status.Phase, p.Status.Reason = corev1.PodRunning, "NodeLost"
			return p
		}, "0/1", "Unknown", "0"},
		{"deleted completed pod stays Completed", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.DeletionTimestamp = agoPtr(time.Second)
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0, 0)}}
			return p
		}, "0/1", "Completed", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.pod()
			cells := podCells(&p, testNow())
			checkCells(t, cells[1:4], []interface{}{tt.ready, tt.status, tt.restarts})
		})
	}
}

func TestPodCells(t *testing.T) {
	tests := []struct {
		name string
		pod  func() corev1.Pod
		want []interface{}
	}{
		{"unscheduled pod has no IP or node", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodPending
			return p
		}, []interface{}{"web", "0/1", "Pending", "0", "3d", "<none>", "<none>", "<none>", "<none>"}},
		{"wide cells show IP, node, nominated node and readiness gates", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Spec.NodeName = "node-1"
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
			p.Status.Phase = corev1.PodRunning
			p.Status.NominatedNodeName = "node-2"
			p.Status.PodIP = "10.244.0.5"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
			p.Status.Conditions = []corev1.PodCondition{
				condition("example.com/lb", corev1.ConditionTrue),
				condition("example.com/dns", corev1.ConditionFalse),
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}
			return p
		}, []interface{}{"web", "1/1", "Running", "0", "3d", "10.244.0.5", "node-1", "node-2", "1/2"}},
		{"pod IP falls back to the single field", func() corev1.Pod {
			p := pod([]string{"app"}, nil, nil)
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP = "10.244.0.6"
			return p
		}, []interface{}{"web", "0/1", "Running", "0", "3d", "10.244.0.6", "<none>", "<none>", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.pod()
			checkCells(t, podCells(&p, testNow()), tt.want)
		})
	}
}
