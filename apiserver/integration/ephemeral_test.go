package integration

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestEphemeralContainers(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	p := pod("web")
	p.Labels = map[string]string{"app": "web"}
	created, err := pods.Create(ctx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 {
		t.Errorf("a new pod's generation is %d, want 1", created.Generation)
	}

	// Added by a strategic merge patch, as kubectl debug does.
	patch := `{"spec":{"ephemeralContainers":[{"name":"debugger","image":"busybox","targetContainerName":"c","stdin":true,"tty":true}]}}`
	got, err := pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "ephemeralcontainers")
	if err != nil {
		t.Fatalf("add an ephemeral container: %v", err)
	}
	if len(got.Spec.EphemeralContainers) != 1 || got.Spec.EphemeralContainers[0].Name != "debugger" ||
		got.Spec.EphemeralContainers[0].TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Fatalf("ephemeral containers %+v", got.Spec.EphemeralContainers)
	}
	if got.Generation != 2 {
		t.Errorf("generation %d after adding one, want 2", got.Generation)
	}

	// The subresource reads the pod; a write through it changes nothing
	// but the ephemeral containers.
	sub, err := c.client.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("web").SubResource("ephemeralcontainers").Do(ctx(t)).Get()
	if err != nil {
		t.Fatal(err)
	}
	pod := sub.(*corev1.Pod)
	pod.Labels["app"] = "changed"
	pod.Spec.Containers[0].Image = "busybox:2"
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "second", Image: "alpine", ImagePullPolicy: corev1.PullIfNotPresent,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
	updated, err := pods.UpdateEphemeralContainers(ctx(t), "web", pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update adding a second: %v", err)
	}
	if len(updated.Spec.EphemeralContainers) != 2 || updated.Labels["app"] != "web" || updated.Spec.Containers[0].Image != "busybox:1.36" {
		t.Errorf("after the update: labels %v, image %q, ephemeral %d", updated.Labels, updated.Spec.Containers[0].Image, len(updated.Spec.EphemeralContainers))
	}

	// Changing or removing one is refused with Kubernetes' messages.
	change := updated.DeepCopy()
	change.Spec.EphemeralContainers[0].Image = "alpine"
	_, err = pods.UpdateEphemeralContainers(ctx(t), "web", change, metav1.UpdateOptions{})
	wantInvalid(t, err, `Pod "web" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be changed`)
	remove := updated.DeepCopy()
	remove.Spec.EphemeralContainers = remove.Spec.EphemeralContainers[1:]
	_, err = pods.UpdateEphemeralContainers(ctx(t), "web", remove, metav1.UpdateOptions{})
	wantInvalid(t, err, `Pod "web" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be removed`)
	dup := `{"spec":{"ephemeralContainers":[{"name":"c","image":"busybox","terminationMessagePolicy":"File"}]}}`
	_, err = pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(dup), metav1.PatchOptions{}, "ephemeralcontainers")
	wantInvalid(t, err, `name: Duplicate value: "c"`)
	ports := `{"spec":{"ephemeralContainers":[{"name":"web","image":"nginx","ports":[{"containerPort":80}]}]}}`
	_, err = pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(ports), metav1.PatchOptions{}, "ephemeralcontainers")
	wantInvalid(t, err, `ports: Forbidden: cannot be set for an Ephemeral Container`)

	// Not through the pod itself, and not on create.
	whole := updated.DeepCopy()
	whole.Spec.EphemeralContainers = whole.Spec.EphemeralContainers[:1]
	_, err = pods.Update(ctx(t), whole, metav1.UpdateOptions{})
	wantInvalid(t, err, "pod updates may not change fields other than")
	withOne := pod.DeepCopy()
	withOne.ObjectMeta = metav1.ObjectMeta{Name: "born-with-one"}
	withOne.Status = corev1.PodStatus{}
	_, err = pods.Create(ctx(t), withOne, metav1.CreateOptions{})
	wantInvalid(t, err, `spec.ephemeralContainers: Forbidden: cannot be set on create`)

	// Server-side apply works here (followups_test.go); a patch that
	// names no kind is refused as upstream refuses it.
	resp := c.do(t, "PATCH", "/api/v1/namespaces/default/pods/web/ephemeralcontainers?fieldManager=t", "application/apply-patch+yaml", []byte("{}"))
	if st := resp.status(t); resp.code != http.StatusBadRequest || st.Message != "invalid object type: /, Kind=" {
		t.Errorf("apply of nothing through ephemeralcontainers: %d %s", resp.code, resp.body)
	}
}

// TestKubectlDebug: the real kubectl's debug adds an ephemeral container
// through the subresource (the kubelet running it is another matter).
func TestKubectlDebugAddsEphemeralContainer(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found")
	}
	c := start(t)
	if _, err := c.client.CoreV1().Pods("default").Create(ctx(t), pod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "-n", "default", "debug", "web", "--image=busybox", "--target=c").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl debug: %v: %s", err, out)
	}
	got, err := c.client.CoreV1().Pods("default").Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.EphemeralContainers) != 1 || !strings.HasPrefix(got.Spec.EphemeralContainers[0].Name, "debugger-") ||
		got.Spec.EphemeralContainers[0].TargetContainerName != "c" {
		t.Fatalf("ephemeral containers after kubectl debug (%s): %+v", out, got.Spec.EphemeralContainers)
	}
}

// TestPodBindingSetsTheNode: binding, the other pod subresource that
// writes the spec, still sets the node (and only the node), without a
// new generation, as Kubernetes' binding.
func TestPodBindingSetsTheNode(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx(t), pod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := pods.Bind(ctx(t), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "n1" || got.Generation != 1 {
		t.Errorf("bound pod: node %q generation %d, want n1 and 1", got.Spec.NodeName, got.Generation)
	}
}
