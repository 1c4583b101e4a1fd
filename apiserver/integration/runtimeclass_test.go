package integration

import (
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// TestRuntimeClassAdmission: a pod naming a RuntimeClass that does not
// exist (or no longer does) is refused with 403, also on a dry run as the
// conformance test asks; one naming a class gets its overhead and its
// scheduling constraints, and is refused when its own overhead or node
// selector contradicts the class; and the plugin can be turned off.
func TestRuntimeClassAdmission(t *testing.T) {
	newPod := func(name, class string) *corev1.Pod {
		p := pod(name)
		if class != "" {
			p.Spec.RuntimeClassName = ptr.To(class)
		}
		return p
	}
	sandbox := corev1.Toleration{Key: "sandbox", Operator: corev1.TolerationOpEqual, Value: "gvisor", Effect: corev1.TaintEffectNoSchedule}
	classes := []*nodev1.RuntimeClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Handler: "runc"},
		{ObjectMeta: metav1.ObjectMeta{Name: "heavy"}, Handler: "runc", Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("1Mi"),
		}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "sandboxed"}, Handler: "gvisor", Scheduling: &nodev1.Scheduling{
			NodeSelector: map[string]string{"sandbox": "gvisor"},
			Tolerations:  []corev1.Toleration{sandbox},
		}},
	}
	createClasses := func(t *testing.T, c *cluster) {
		t.Helper()
		for _, rc := range classes {
			if _, err := c.client.NodeV1().RuntimeClasses().Create(ctx(t), rc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("on", func(t *testing.T) {
		c := start(t)
		cx := ctx(t)
		pods := c.client.CoreV1().Pods("default")
		createClasses(t, c)
		forbidden := func(p *corev1.Pod, dryRun bool, want string) {
			t.Helper()
			opts := metav1.CreateOptions{}
			if dryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			_, err := pods.Create(cx, p, opts)
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("pod %s (dry run %v): %v, want Forbidden %q", p.Name, dryRun, err, want)
			}
		}
		create := func(p *corev1.Pod) *corev1.Pod {
			t.Helper()
			got, err := pods.Create(cx, p, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create pod %s: %v", p.Name, err)
			}
			return got
		}

		// A missing class: 403 with Kubernetes' message, on a dry run too.
		forbidden(newPod("missing", "nope"), true, `pods "missing" is forbidden: pod rejected: RuntimeClass "nope" not found`)
		r := c.do(t, http.MethodPost, "/api/v1/namespaces/default/pods", "application/json", mustJSON(t, newPod("missing", "nope")))
		if st := r.status(t); r.code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden || st.Message != `pods "missing" is forbidden: pod rejected: RuntimeClass "nope" not found` {
			t.Errorf("missing class over HTTP: %d %+v", r.code, st)
		}

		// A deleted class is as missing: the plugin does not read a stale
		// copy.
		if _, err := c.client.NodeV1().RuntimeClasses().Create(cx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "delete-me"}, Handler: "runc"}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		create(newPod("before-delete", "delete-me"))
		if err := c.client.NodeV1().RuntimeClasses().Delete(cx, "delete-me", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		forbidden(newPod("after-delete", "delete-me"), true, `RuntimeClass "delete-me" not found`)

		// A class without overhead leaves the pod without one.
		if got := create(newPod("plain", "plain")); got.Spec.Overhead != nil {
			t.Errorf("class without overhead: pod overhead %v", got.Spec.Overhead)
		}

		// The class's overhead becomes the pod's, which the pod may state
		// only if it is the same.
		want := classes[1].Overhead.PodFixed
		if got := create(newPod("heavy", "heavy")); !apiequality.Semantic.DeepEqual(got.Spec.Overhead, want) {
			t.Errorf("overhead %v, want the class's %v", got.Spec.Overhead, want)
		}
		same := newPod("same-overhead", "heavy")
		same.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.01"), corev1.ResourceMemory: resource.MustParse("1048576")}
		if got := create(same); !apiequality.Semantic.DeepEqual(got.Spec.Overhead, want) {
			t.Errorf("overhead %v, want the class's %v", got.Spec.Overhead, want)
		}
		other := newPod("other-overhead", "heavy")
		other.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		forbidden(other, false, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")
		classless := newPod("classless-overhead", "")
		classless.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		forbidden(classless, false, "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")
		unasked := newPod("plain-overhead", "plain")
		unasked.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		forbidden(unasked, false, "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")

		// The class's node selector joins the pod's; a contradiction is
		// refused. Its toleration is added once, after the pod's own and
		// DefaultTolerationSeconds'.
		merged := newPod("sandboxed", "sandboxed")
		merged.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		got := create(merged)
		if want := map[string]string{"disk": "ssd", "sandbox": "gvisor"}; !apiequality.Semantic.DeepEqual(got.Spec.NodeSelector, want) {
			t.Errorf("node selector %v, want %v", got.Spec.NodeSelector, want)
		}
		if n := len(got.Spec.Tolerations); n != 3 || !apiequality.Semantic.DeepEqual(got.Spec.Tolerations[n-1], sandbox) {
			t.Errorf("tolerations %+v, want DefaultTolerationSeconds' two then the class's", got.Spec.Tolerations)
		}
		again := newPod("sandboxed-again", "sandboxed")
		again.Spec.NodeSelector = map[string]string{"sandbox": "gvisor"}
		again.Spec.Tolerations = []corev1.Toleration{sandbox}
		got = create(again)
		count := 0
		for _, tol := range got.Spec.Tolerations {
			if tol.Key == sandbox.Key {
				count++
			}
		}
		if count != 1 || len(got.Spec.NodeSelector) != 1 {
			t.Errorf("pod stating the class's constraints: selector %v tolerations %+v, want them once", got.Spec.NodeSelector, got.Spec.Tolerations)
		}
		conflict := newPod("conflict", "sandboxed")
		conflict.Spec.NodeSelector = map[string]string{"sandbox": "kata"}
		forbidden(conflict, false, `pods "conflict" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[sandbox] = gvisor; pod.spec.nodeSelector[sandbox] = kata`)

		// Only creation is admitted: an update of a pod whose class is
		// gone goes through.
		before, err := pods.Get(cx, "before-delete", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before.Labels = map[string]string{"touched": "yes"}
		if _, err := pods.Update(cx, before, metav1.UpdateOptions{}); err != nil {
			t.Errorf("update of a pod whose class is gone: %v", err)
		}
	})

	t.Run("disabled", func(t *testing.T) {
		c := start(t, servertest.WithConfig(func(cfg *server.Config) {
			cfg.DisableAdmissionPlugins = append(cfg.DisableAdmissionPlugins, server.AdmissionRuntimeClass)
		}))
		cx := ctx(t)
		createClasses(t, c)
		pods := c.client.CoreV1().Pods("default")
		if _, err := pods.Create(cx, newPod("missing", "nope"), metav1.CreateOptions{}); err != nil {
			t.Errorf("with RuntimeClass off, a pod naming a missing class: %v", err)
		}
		got, err := pods.Create(cx, newPod("heavy", "heavy"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.Overhead != nil {
			t.Errorf("with RuntimeClass off: overhead %v, want none", got.Spec.Overhead)
		}
	})
}
