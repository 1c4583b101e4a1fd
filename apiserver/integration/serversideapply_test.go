package integration

import (
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
)

func managers(fields []metav1.ManagedFieldsEntry) map[string]metav1.ManagedFieldsOperationType {
	out := map[string]metav1.ManagedFieldsOperationType{}
	for _, f := range fields {
		out[f.Manager] = f.Operation
	}
	return out
}

// Server-side apply: an apply creates, records its manager, conflicts
// with another manager's field (409 naming field and manager) unless
// forced; updates and patches record theirs; apply needs a manager; a
// custom resource applies too.
func TestServerSideApply(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")

	cm, err := cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", "default").WithData(map[string]string{"owner": "alice", "shared": "1"}),
		metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if m := managers(cm.ManagedFields); m["alice"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managed fields after the first apply: %+v", cm.ManagedFields)
	}

	_, err = cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", "default").WithData(map[string]string{"owner": "bob"}),
		metav1.ApplyOptions{FieldManager: "bob"})
	want := `Apply failed with 1 conflict: conflict with "alice": .data.owner`
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("conflicting apply: %v, want 409 %q", err, want)
	}
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Details == nil || len(st.Status().Details.Causes) != 1 ||
		st.Status().Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict || st.Status().Details.Causes[0].Field != ".data.owner" {
		t.Fatalf("conflict causes: %#v", err)
	}
	cm, err = cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", "default").WithData(map[string]string{"owner": "bob"}),
		metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["owner"] != "bob" || cm.Data["shared"] != "1" {
		t.Fatalf("forced apply: %v", cm.Data)
	}

	// A plain update is recorded as an Update by its manager.
	cm.Data["extra"] = "x"
	cm, err = cms.Update(ctx(t), cm, metav1.UpdateOptions{FieldManager: "editor"})
	if err != nil {
		t.Fatal(err)
	}
	m := managers(cm.ManagedFields)
	if m["editor"] != metav1.ManagedFieldsOperationUpdate || m["alice"] != metav1.ManagedFieldsOperationApply || m["bob"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managers after the update: %v", m)
	}
	// A merge patch without a manager is recorded under the User-Agent's.
	cm, err = cms.Patch(ctx(t), "ssa", types.MergePatchType, []byte(`{"data":{"patched":"y"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(managers(cm.ManagedFields)) != 4 {
		t.Fatalf("managers after a patch: %v", managers(cm.ManagedFields))
	}
	// Alice no longer applies "shared": it goes, as nobody else owns it.
	cm, err = cms.Apply(ctx(t), corev1ac.ConfigMap("ssa", "default").WithData(map[string]string{}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Data["shared"]; ok {
		t.Fatalf("a field its only applier dropped survived: %v", cm.Data)
	}

	// Apply needs a field manager.
	resp := c.do(t, http.MethodPatch, "/api/v1/namespaces/default/configmaps/ssa", "application/apply-patch+yaml", []byte("apiVersion: v1\nkind: ConfigMap\n"))
	if resp.code != http.StatusUnprocessableEntity || !strings.Contains(string(resp.body), "fieldManager: Required value: is required for apply patch") {
		t.Fatalf("apply without a manager: %d %s", resp.code, resp.body)
	}

	// A duplicate key in the applied YAML: 400 with Strict.
	dup := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: \"1\"\n  a: \"2\"\n")
	resp = c.do(t, http.MethodPatch, "/api/v1/namespaces/default/configmaps/ssa?fieldManager=alice&fieldValidation=Strict", "application/apply-patch+yaml", dup)
	if resp.code != http.StatusBadRequest || !strings.Contains(string(resp.body), `error strict decoding patch`) || !strings.Contains(string(resp.body), `key \"a\" already set in map`) {
		t.Fatalf("apply with a duplicate key, Strict: %d %s", resp.code, resp.body)
	}

	// Pods created by a plain create carry their creator's entry.
	pod, err := c.client.CoreV1().Pods("default").Create(ctx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "managed"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if managers(pod.ManagedFields)["creator"] != metav1.ManagedFieldsOperationUpdate {
		t.Fatalf("pod managed fields: %+v", pod.ManagedFields)
	}

	// A custom resource: applied, then a conflict on its field.
	c.createCRD(t, widgetCRD())
	ws := dynamic.NewForConfigOrDie(c.Config).Resource(widgets).Namespace("default")
	w := widget("applied", map[string]any{"color": "red"})
	if _, err := ws.Apply(ctx(t), "applied", w, metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Fatal(err)
	}
	w2 := widget("applied", map[string]any{"color": "blue"})
	_, err = ws.Apply(ctx(t), "applied", w2, metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), ".spec.color") {
		t.Fatalf("conflicting apply of a CR: %v", err)
	}
	got, err := ws.Get(ctx(t), "applied", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedString(got.Object, "spec", "size"); size != "medium" {
		t.Fatalf("applied CR not defaulted: %v", got.Object)
	}
}
