package helperpod

import (
	"errors"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/addons/local-path/internal/helper"
)

var template = Template{Namespace: "kube-system", Image: "coracle.dev/addons/local-path:v0.1.0", Command: "/local-path", ServiceAccount: "sa"}

func TestPod(t *testing.T) {
	req := Request{
		Action: helper.ActionCreate, Volume: "pvc-0b2f", Node: "n1", Path: "/var/lib/coracle/storage/pvc-0b2f_ns_data",
		Claim: types.NamespacedName{Namespace: "ns", Name: "data"}, ClaimUID: "0b2f",
	}
	pod := template.Pod(req)
	if pod.Name != "helper-pod-create-pvc-0b2f" || pod.Namespace != "kube-system" || pod.Spec.NodeName != "n1" {
		t.Errorf("pod %s/%s on %q", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	if pod.Spec.RestartPolicy != v1.RestartPolicyNever || pod.Spec.AutomountServiceAccountToken == nil ||
		*pod.Spec.AutomountServiceAccountToken || pod.Spec.ServiceAccountName != "sa" {
		t.Errorf("restart %s, service account %s, token %v", pod.Spec.RestartPolicy, pod.Spec.ServiceAccountName, pod.Spec.AutomountServiceAccountToken)
	}
	if len(pod.Spec.Tolerations) != 1 || pod.Spec.Tolerations[0].Operator != v1.TolerationOpExists || pod.Spec.Tolerations[0].Key != "" {
		t.Errorf("tolerations %+v: want one that tolerates everything", pod.Spec.Tolerations)
	}
	c := pod.Spec.Containers[0]
	wantCmd := []string{"/local-path", "helper", "create", "--path", req.Path, "--mode", "0777"}
	if c.Image != template.Image || !slices.Equal(c.Command, wantCmd) {
		t.Errorf("container runs %v of %s; want %v", c.Command, c.Image, wantCmd)
	}
	vol := pod.Spec.Volumes[0]
	if vol.HostPath == nil || vol.HostPath.Path != "/var/lib/coracle/storage" || *vol.HostPath.Type != v1.HostPathDirectoryOrCreate ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != vol.Name || c.VolumeMounts[0].MountPath != "/var/lib/coracle/storage" {
		t.Errorf("the storage root is not mounted at its own path: %+v %+v", vol, c.VolumeMounts)
	}
	// The helper subcommand accepts what the pod runs.
	if _, ok := RequestOf(pod); !ok {
		t.Fatal("RequestOf does not recognize a helper pod")
	}
	got, _ := RequestOf(pod)
	req.Mode = 0
	if got != req {
		t.Errorf("RequestOf = %+v, want %+v", got, req)
	}

	del := template.Pod(Request{Action: helper.ActionDelete, Volume: "pvc-0b2f", Node: "n1", Path: req.Path})
	if del.Name != "helper-pod-delete-pvc-0b2f" || !slices.Equal(del.Spec.Containers[0].Command,
		[]string{"/local-path", "helper", "delete", "--path", req.Path}) {
		t.Errorf("delete pod %s runs %v", del.Name, del.Spec.Containers[0].Command)
	}
	if r, _ := RequestOf(del); r.Claim.Name != "" || r.ClaimUID != "" {
		t.Errorf("delete request names a claim: %+v", r)
	}
	other := del.DeepCopy()
	other.Labels = nil
	if _, ok := RequestOf(other); ok {
		t.Error("a pod without the helper label is taken for a helper pod")
	}
}

func TestOutcome(t *testing.T) {
	terminated := func(msg, reason string, code int32) *v1.Pod {
		return &v1.Pod{Status: v1.PodStatus{Phase: v1.PodFailed, ContainerStatuses: []v1.ContainerStatus{{
			Name: ContainerName, State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{Message: msg, Reason: reason, ExitCode: code}},
		}}}}
	}
	cases := []struct {
		name string
		pod  *v1.Pod
		done bool
		err  string
	}{
		{"pending", &v1.Pod{Status: v1.PodStatus{Phase: v1.PodPending}}, false, ""},
		{"running", &v1.Pod{Status: v1.PodStatus{Phase: v1.PodRunning}}, false, ""},
		{"no status yet", &v1.Pod{}, false, ""},
		{"succeeded", &v1.Pod{Status: v1.PodStatus{Phase: v1.PodSucceeded}}, true, ""},
		{"failed with the helper's message", terminated("local-path helper: /x exists and is not a directory\n", "Error", 1), true,
			"helper pod failed: local-path helper: /x exists and is not a directory"},
		{"failed without a message", terminated("", "Error", 1), true, "helper pod failed: Error, exit code 1"},
		{"failed before it ran", &v1.Pod{Status: v1.PodStatus{Phase: v1.PodFailed, Message: "node lost"}}, true, "helper pod failed: node lost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done, err := Outcome(tc.pod)
			if done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err || !errors.Is(err, ErrFailed)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
	if w := waiting(&v1.Pod{Status: v1.PodStatus{Phase: v1.PodPending, ContainerStatuses: []v1.ContainerStatus{{
		Name: ContainerName, State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}},
	}}}}); !strings.Contains(w, "ErrImagePull: not found") {
		t.Errorf("waiting = %q", w)
	}
}
