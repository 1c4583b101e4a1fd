package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSidecarsAndInitContainers runs real pods with init containers and
// sidecars (init containers with restartPolicy Always): a sidecar starts
// before the pod's container and stops after it, both when the container
// completes (the Job-like pod ends Succeeded) and when the pod is
// deleted; a failing init container fails a pod that restarts Never, as
// upstream's conformance test expects.
func TestSidecarsAndInitContainers(t *testing.T) {
	n := startNode(t)
	hostDir := t.TempDir()
	hostVol := v1.Volume{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir}}}
	mount := []v1.VolumeMount{{Name: "host", MountPath: "/host"}}
	always := v1.ContainerRestartPolicyAlways

	// A Job-like pod: the sidecar runs until the container completed.
	sidecar := sh("log", `trap 'echo sidecar-term >> /host/job; exit 0' TERM; echo sidecar-start >> /host/job; while true; do sleep 0.1; done`)
	sidecar.RestartPolicy, sidecar.VolumeMounts = &always, mount
	init := sh("init", `echo init >> /host/job`)
	init.VolumeMounts = mount
	main := sh("main", `echo main-start >> /host/job; sleep 1; echo main-exit >> /host/job`)
	main.VolumeMounts = mount
	job := n.pod("job", main)
	job.Spec.InitContainers = []v1.Container{sidecar, init}
	job.Spec.InitContainers[0].Image, job.Spec.InitContainers[1].Image = n.image, n.image
	job.Spec.RestartPolicy = v1.RestartPolicyNever
	job.Spec.Volumes = []v1.Volume{hostVol}
	job.Spec.TerminationGracePeriodSeconds = ptrInt64(10)
	n.create(job)

	// An Always pod with a sidecar, deleted: the container stops first,
	// the sidecar only once it has exited.
	del := sh("main", `trap 'echo main-term >> /host/del; sleep 1; echo main-exit >> /host/del; exit 0' TERM; while true; do sleep 0.1; done`)
	del.VolumeMounts = mount
	delSidecar := sh("proxy", `trap 'echo sidecar-term >> /host/del; exit 0' TERM; while true; do sleep 0.1; done`)
	delSidecar.RestartPolicy, delSidecar.VolumeMounts, delSidecar.Image = &always, mount, n.image
	delPod := n.pod("ordered", del)
	delPod.Spec.InitContainers = []v1.Container{delSidecar}
	delPod.Spec.Volumes = []v1.Volume{hostVol}
	delPod.Spec.TerminationGracePeriodSeconds = ptrInt64(10)
	n.create(delPod)

	// A failing init container of a Never pod (upstream's "should not
	// start app containers and fail the pod if init containers fail on a
	// RestartNever pod", first init container failing).
	fail := n.pod("init-fails", sh("run1", "true"))
	fail.Spec.InitContainers = []v1.Container{{Name: "init1", Image: n.image, Command: []string{"/bin/false"}}, {Name: "init2", Image: n.image, Command: []string{"/bin/true"}}}
	fail.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(fail)

	done := n.waitPod("job", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	b, _ := os.ReadFile(filepath.Join(hostDir, "job"))
	if got, want := strings.Fields(string(b)), []string{"sidecar-start", "init", "main-start", "main-exit", "sidecar-term"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Job-like pod: order %v, want %v", got, want)
	}
	if len(done.Status.InitContainerStatuses) != 2 {
		t.Fatalf("init container statuses: %+v", done.Status.InitContainerStatuses)
	}
	if sc := done.Status.InitContainerStatuses[0]; sc.Name != "log" || sc.State.Terminated == nil || sc.RestartCount != 0 {
		t.Errorf("the sidecar ends terminated, never restarted: %+v", sc)
	}
	if cs := done.Status.ContainerStatuses[0]; cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
		t.Errorf("the container completed: %+v", cs)
	}

	running := n.waitRunning("ordered")
	if sc := running.Status.InitContainerStatuses[0]; sc.State.Running == nil || sc.Started == nil || !*sc.Started || !sc.Ready {
		t.Errorf("a running sidecar is started and ready: %+v", sc)
	}
	n.deletePodWithGrace("ordered", 10)
	b, _ = os.ReadFile(filepath.Join(hostDir, "del"))
	if got, want := strings.Fields(string(b)), []string{"main-term", "main-exit", "sidecar-term"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("deleted pod: order %v, want %v", got, want)
	}

	failed := n.waitPod("init-fails", 60*time.Second, "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	init1 := condition(failed, v1.PodInitialized)
	if init1 == nil || init1.Status != v1.ConditionFalse || init1.Reason != "ContainersNotInitialized" || init1.Message != "containers with incomplete status: [init1 init2]" {
		t.Errorf("Initialized condition %+v", init1)
	}
	if cs := failed.Status.ContainerStatuses[0]; cs.State.Waiting == nil || cs.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("the container never started: %+v", cs.State)
	}
	if is := failed.Status.InitContainerStatuses; is[0].State.Terminated == nil || is[0].State.Terminated.ExitCode != 1 || is[1].State.Waiting == nil {
		t.Errorf("init containers: %+v", is)
	}
}

// deletePodWithGrace deletes a pod with a grace period and waits until
// it is gone.
func (n *node) deletePodWithGrace(name string, grace int64) {
	n.t.Helper()
	if err := n.client.CoreV1().Pods(n.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		n.t.Fatal(err)
	}
	n.waitGone(name, time.Duration(grace)*time.Second+30*time.Second)
}
