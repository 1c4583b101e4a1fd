package integration

import (
	"os/exec"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// resizablePod is a Burstable pod whose container c asks for 100m cpu
// and 64Mi of memory, limited to 200m and 128Mi.
func resizablePod(name string) *corev1.Pod {
	p := pod(name)
	p.Labels = map[string]string{"app": "web"}
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	return p
}

func quantity(list corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := list[name]
	if !ok {
		return "<none>"
	}
	return q.String()
}

// TestPodResize: pods/resize changes containers' cpu and memory in place
// and nothing else; the pod itself still may not change them.
func TestPodResize(t *testing.T) {
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	created, err := pods.Create(ctx(t), resizablePod("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.QOSClass != corev1.PodQOSBurstable {
		t.Fatalf("QoS class %q, want Burstable", created.Status.QOSClass)
	}

	// A strategic merge patch, as the conformance tests send.
	patch := `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"150m","memory":"96Mi"},"limits":{"cpu":"300m"}}}]}}`
	got, err := pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "resize")
	if err != nil {
		t.Fatalf("resize by patch: %v", err)
	}
	r := got.Spec.Containers[0].Resources
	if quantity(r.Requests, "cpu") != "150m" || quantity(r.Requests, "memory") != "96Mi" || quantity(r.Limits, "cpu") != "300m" || quantity(r.Limits, "memory") != "128Mi" {
		t.Errorf("resources after the patch: %+v", r)
	}
	if got.Generation != 2 {
		t.Errorf("generation %d after a resize, want 2", got.Generation)
	}
	// The writer owns the resources it set, through the subresource.
	if i := slices.IndexFunc(got.ManagedFields, func(e metav1.ManagedFieldsEntry) bool { return e.Subresource == "resize" }); i < 0 ||
		!contains(string(got.ManagedFields[i].FieldsV1.Raw), `"f:resources"`) || contains(string(got.ManagedFields[i].FieldsV1.Raw), `"f:image"`) {
		t.Errorf("managed fields after the resize: %+v", got.ManagedFields)
	}

	// The subresource reads the pod; an update through it keeps all but
	// the containers' resources.
	sub, err := c.client.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("web").SubResource("resize").Do(ctx(t)).Get()
	if err != nil {
		t.Fatal(err)
	}
	p := sub.(*corev1.Pod)
	p.Labels["app"] = "changed"
	p.Spec.Containers[0].Image = "busybox:2"
	p.Spec.ActiveDeadlineSeconds = new(int64(30))
	p.Status.Phase = corev1.PodFailed
	p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("256Mi")
	updated, err := pods.UpdateResize(ctx(t), "web", p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("resize by update: %v", err)
	}
	if updated.Labels["app"] != "web" || updated.Spec.Containers[0].Image != "busybox:1.36" || updated.Spec.ActiveDeadlineSeconds != nil ||
		updated.Status.Phase != corev1.PodPending {
		t.Errorf("a resize changed more than resources: labels %v, image %q, deadline %v, phase %q",
			updated.Labels, updated.Spec.Containers[0].Image, updated.Spec.ActiveDeadlineSeconds, updated.Status.Phase)
	}
	if l := quantity(updated.Spec.Containers[0].Resources.Limits, "memory"); l != "256Mi" || updated.Generation != 3 {
		t.Errorf("after the update: memory limit %s, generation %d, want 256Mi and 3", l, updated.Generation)
	}

	// Refused with Kubernetes' messages: a new QoS class, removed limits,
	// another resource, a renamed container.
	guaranteed := `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"300m","memory":"256Mi"}}}]}}`
	_, err = pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(guaranteed), metav1.PatchOptions{}, "resize")
	wantInvalid(t, err, `Pod "web" is invalid: spec: Invalid value: "Burstable": Pod QOS Class may not change as a result of resizing`)
	noLimits := `{"spec":{"containers":[{"name":"c","resources":{"limits":null}}]}}`
	_, err = pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(noLimits), metav1.PatchOptions{}, "resize")
	wantInvalid(t, err, "spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed")
	storage := `{"spec":{"containers":[{"name":"c","resources":{"requests":{"ephemeral-storage":"1Gi"}}}]}}`
	_, err = pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(storage), metav1.PatchOptions{}, "resize")
	wantInvalid(t, err, "spec: Forbidden: only cpu and memory resources are mutable")
	renamed := updated.DeepCopy()
	renamed.Spec.Containers[0].Name = "d"
	_, err = pods.UpdateResize(ctx(t), "web", renamed, metav1.UpdateOptions{})
	wantInvalid(t, err, "spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize")

	// The pod itself may still not change its resources.
	whole := updated.DeepCopy()
	whole.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("250m")
	_, err = pods.Update(ctx(t), whole, metav1.UpdateOptions{})
	wantInvalid(t, err, "pod updates may not change fields other than")

	// What the kubelet writes once it has actuated the resize: allocated
	// and actual resources, and the resize conditions.
	running := updated.DeepCopy()
	running.Status.Phase = corev1.PodRunning
	running.Status.Conditions = append(running.Status.Conditions,
		corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue},
		corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: corev1.PodReasonDeferred, Message: "waiting"})
	running.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "c", Image: "busybox:1.36", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		AllocatedResources: updated.Spec.Containers[0].Resources.Requests,
		Resources:          updated.Spec.Containers[0].Resources.DeepCopy(),
	}}
	status, err := pods.UpdateStatus(ctx(t), running, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("status with resize fields: %v", err)
	}
	cs := status.Status.ContainerStatuses
	if len(cs) != 1 || quantity(cs[0].AllocatedResources, "cpu") != "150m" || cs[0].Resources == nil ||
		quantity(cs[0].Resources.Limits, "memory") != "256Mi" || len(status.Status.Conditions) != 2 {
		t.Errorf("status after the kubelet's write: %+v", status.Status)
	}

	// Running on a node that reports no resources for its containers, a
	// pod cannot be resized.
	unsupported := status.DeepCopy()
	unsupported.Status.ContainerStatuses[0].Resources = nil
	if _, err := pods.UpdateStatus(ctx(t), unsupported, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "resize")
	wantInvalid(t, err, "spec: Forbidden: Pod running on node without support for resize")

	// Discovery lists the subresource with the verbs kubectl needs.
	list, err := c.client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "pods/resize" })
	if i < 0 {
		t.Fatal("discovery does not list pods/resize")
	}
	if r := list.APIResources[i]; r.Kind != "Pod" || !slices.Equal(r.Verbs, metav1.Verbs{"get", "patch", "update"}) {
		t.Errorf("pods/resize in discovery: %+v", r)
	}
	// And the OpenAPI document its operations, as client generators and
	// kubectl explain read them.
	doc := c.do(t, "GET", "/openapi/v3/api/v1", "", nil)
	if !contains(string(doc.body), `/api/v1/namespaces/{namespace}/pods/{name}/resize`) || !contains(string(doc.body), "patchCoreV1NamespacedPodResize") {
		t.Errorf("OpenAPI v3 (%d) does not document pods/resize", doc.code)
	}
}

// TestKubectlPatchResize: the real kubectl resizes through the
// subresource, a BestEffort pod cannot start asking for memory.
func TestKubectlPatchResize(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found")
	}
	c := start(t)
	pods := c.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx(t), resizablePod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run := func(name, patch string) ([]byte, error) {
		return exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "-n", "default", "patch", "pod", name,
			"--subresource", "resize", "--patch", patch).CombinedOutput()
	}
	if out, err := run("web", `{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"200m"}}}]}}`); err != nil {
		t.Fatalf("kubectl patch --subresource resize: %v: %s", err, out)
	}
	got, err := pods.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := quantity(got.Spec.Containers[0].Resources.Requests, "cpu"); cpu != "200m" || got.Generation != 2 {
		t.Errorf("after kubectl's resize: cpu request %s, generation %d, want 200m and 2", cpu, got.Generation)
	}

	if _, err := pods.Create(ctx(t), pod("besteffort"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := run("besteffort", `{"spec":{"containers":[{"name":"c","resources":{"requests":{"memory":"64Mi"}}}]}}`)
	if err == nil || !contains(string(out), "Pod QOS Class may not change as a result of resizing") {
		t.Errorf("kubectl resizing a BestEffort pod: %v: %s", err, out)
	}
}
