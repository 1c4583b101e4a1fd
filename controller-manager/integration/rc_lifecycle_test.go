package integration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
)

// nextEvent reads events from w until cond holds for one, as the
// conformance tests' watchUntilWithoutRetry does.
func nextEvent(t *testing.T, w watch.Interface, what string, cond func(watch.Event) bool) watch.Event {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed waiting for %s", what)
			}
			if cond(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// rcOf decodes the ReplicationController of an event from the dynamic
// client.
func rcOf(t *testing.T, ev watch.Event) *corev1.ReplicationController {
	t.Helper()
	b, err := json.Marshal(ev.Object)
	if err != nil {
		t.Fatal(err)
	}
	var rc corev1.ReplicationController
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	return &rc
}

// TestReplicationControllerLifecycle follows the conformance test
// "should test the lifecycle of a ReplicationController" through a
// label-selected watch of the dynamic client: the RC's status reaches
// its replicas, ready, in a watch event; label, status and scale patches;
// deletecollection.
func TestReplicationControllerLifecycle(t *testing.T) {
	e := start(t)
	startKubelet(e, "node-a")
	ctx := e.ctx()
	ns := e.namespace("rc-lifecycle")
	dc := dynamic.NewForConfigOrDie(e.ts.Config)
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "replicationcontrollers"}
	const selector = "test-rc-static=true"
	list, err := dc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.GetResourceVersion(), &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return dc.Resource(gvr).Namespace(ns).Watch(ctx, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	rcs := e.client.CoreV1().ReplicationControllers(ns)
	static := map[string]string{"test-rc-static": "true"}
	created, err := rcs.Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc-test", Labels: static},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](1), Selector: static,
			// As in the conformance test, the template has a name, which
			// pods do not take.
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Name: "rc-test", Labels: static},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "rc-test", Image: "registry.example/nginx:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, w, "ADDED", func(ev watch.Event) bool { return ev.Type == watch.Added })
	nextEvent(t, w, "one replica ready", func(ev watch.Event) bool {
		st := rcOf(t, ev).Status
		return st.Replicas == 1 && st.ReadyReplicas == 1
	})

	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{"test-rc": "patched"}}})
	patched, err := rcs.Patch(ctx, "rc-test", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil || patched.Labels["test-rc"] != "patched" || patched.ResourceVersion == created.ResourceVersion {
		t.Fatalf("label patch: %+v, %v", patched, err)
	}
	nextEvent(t, w, "MODIFIED by the label patch", func(ev watch.Event) bool { return ev.Type == watch.Modified })

	statusPatch, _ := json.Marshal(map[string]any{"status": map[string]any{"readyReplicas": 0, "availableReplicas": 0}})
	rc, err := rcs.Patch(ctx, "rc-test", types.StrategicMergePatchType, statusPatch, metav1.PatchOptions{}, "status")
	if err != nil || rc.Status.ReadyReplicas != 0 {
		t.Fatalf("status patch: %+v, %v", rc, err)
	}
	nextEvent(t, w, "MODIFIED by the status patch", func(ev watch.Event) bool { return ev.Type == watch.Modified })
	nextEvent(t, w, "replicas 1", func(ev watch.Event) bool { return rcOf(t, ev).Status.Replicas == 1 })
	st, err := dc.Resource(gvr).Namespace(ns).Get(ctx, "rc-test", metav1.GetOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	var fromStatus corev1.ReplicationController
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(st.Object, &fromStatus); err != nil || fromStatus.Status.Replicas != 1 {
		t.Fatalf("status subresource %+v, %v", fromStatus.Status, err)
	}

	scale, _ := json.Marshal(autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 2}})
	if _, err := rcs.Patch(ctx, "rc-test", types.StrategicMergePatchType, scale, metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatalf("scale patch: %v", err)
	}
	nextEvent(t, w, "MODIFIED by the scale patch", func(ev watch.Event) bool { return ev.Type == watch.Modified })
	nextEvent(t, w, "two replicas ready", func(ev watch.Event) bool {
		rc := rcOf(t, ev)
		return rc.Name == "rc-test" && rc.Namespace == ns && rc.Status.Replicas == 2 && rc.Status.ReadyReplicas == 2
	})
	if pods := activePods(e.pods(ns, static)); len(pods) != 2 {
		t.Errorf("%d pods, want 2", len(pods))
	}

	rc, err = rcs.Get(ctx, "rc-test", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Status.AvailableReplicas, rc.Status.ReadyReplicas = 1, 1
	if _, err := rcs.UpdateStatus(ctx, rc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status update: %v", err)
	}
	nextEvent(t, w, "MODIFIED by the status update", func(ev watch.Event) bool { return ev.Type == watch.Modified })
	all, err := e.client.CoreV1().ReplicationControllers("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(all.Items) != 1 || all.Items[0].Labels["test-rc"] != "patched" {
		t.Fatalf("list across namespaces: %+v, %v", all, err)
	}

	if err := rcs.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: selector}); err != nil {
		t.Fatalf("deletecollection: %v", err)
	}
	nextEvent(t, w, "DELETED", func(ev watch.Event) bool { return ev.Type == watch.Deleted })
}
