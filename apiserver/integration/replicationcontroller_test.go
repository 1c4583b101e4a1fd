package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestReplicationController: defaults, validation, the scale and status
// subresources, the status.replicas field selector and the table of a
// ReplicationController, served as core/v1 `rc`.
func TestReplicationController(t *testing.T) {
	c := start(t)
	rcs := c.client.CoreV1().ReplicationControllers("default")
	// Only the template's labels: selector and labels default to them.
	rc, err := rcs.Create(ctx(t), &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" || rc.Generation != 1 ||
		rc.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Fatalf("defaults: replicas %d selector %v labels %v generation %d restartPolicy %q",
			*rc.Spec.Replicas, rc.Spec.Selector, rc.Labels, rc.Generation, rc.Spec.Template.Spec.RestartPolicy)
	}

	scale, err := rcs.GetScale(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if scale.Spec.Replicas != 1 || scale.Status.Selector != "app=web" {
		t.Fatalf("scale %+v", scale)
	}
	scale.Spec.Replicas = 3
	if _, err := rcs.UpdateScale(ctx(t), "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if rc, err = rcs.Get(ctx(t), "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if *rc.Spec.Replicas != 3 || rc.Generation != 2 {
		t.Fatalf("after scale: replicas %d generation %d", *rc.Spec.Replicas, rc.Generation)
	}
	// The scale subresource is autoscaling/v1, as kubectl scale sends it.
	r := c.do(t, http.MethodGet, "/api/v1/namespaces/default/replicationcontrollers/web/scale", "", nil)
	var s autoscalingv1.Scale
	if err := json.Unmarshal(r.body, &s); r.code != 200 || err != nil || s.APIVersion != "autoscaling/v1" || s.Kind != "Scale" {
		t.Fatalf("scale: %d %s", r.code, r.body)
	}

	// Status only through /status.
	rc.Status = corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2, ObservedGeneration: 2}
	if rc, err = rcs.Update(ctx(t), rc, metav1.UpdateOptions{}); err != nil || rc.Status.Replicas != 0 {
		t.Fatalf("main update wrote status %+v: %v", rc.Status, err)
	}
	rc.Status = corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2, ObservedGeneration: 2}
	if rc, err = rcs.UpdateStatus(ctx(t), rc, metav1.UpdateOptions{}); err != nil || rc.Status.Replicas != 3 || rc.Generation != 2 {
		t.Fatalf("status update %+v generation %d: %v", rc.Status, rc.Generation, err)
	}
	list, err := rcs.List(ctx(t), metav1.ListOptions{FieldSelector: "status.replicas=3"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("field selector status.replicas=3: %v %v", list, err)
	}

	// A selector that does not select the template's pods is refused.
	bad := rc.DeepCopy()
	bad.ResourceVersion = ""
	bad.Name = "bad"
	bad.Spec.Selector = map[string]string{"app": "db"}
	_, err = rcs.Create(ctx(t), bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.template.metadata.labels: Invalid value") ||
		!strings.Contains(err.Error(), "selector` does not match template `labels`") {
		t.Fatalf("mismatched selector: %v", err)
	}

	r = doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api/v1/namespaces/default/replicationcontrollers", "", nil,
		http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}})
	var table metav1.Table
	if err := json.Unmarshal(r.body, &table); err != nil || len(table.Rows) != 1 {
		t.Fatalf("table: %d %s", r.code, r.body)
	}
	if cells := table.Rows[0].Cells; cells[0] != "web" || cells[1] != float64(3) || cells[2] != float64(3) || cells[3] != float64(2) {
		t.Fatalf("row %v", cells)
	}

	// Aggregated discovery of the core group lists it for kubectl.
	r = doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api", "", nil,
		http.Header{"Accept": {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"}})
	if r.code != 200 || !strings.Contains(string(r.body), `"resource":"replicationcontrollers"`) {
		t.Fatalf("aggregated discovery of /api: %d %s", r.code, r.body)
	}
}
