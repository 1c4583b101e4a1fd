package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	storagemigrationv1ac "k8s.io/client-go/applyconfigurations/storagemigration/v1"
)

// TestStorageVersionMigrationCRUD drives StorageVersionMigrations as the
// conformance test does: create, update of labels (the spec is
// immutable), status written by update and by server-side apply,
// patches, list by label and delete collection.
func TestStorageVersionMigrationCRUD(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	migrations := c.client.StoragemigrationV1().StorageVersionMigrations()
	label := map[string]string{"e2e-test.kubernetes.io": "svm"}
	created, err := migrations.Create(ctx, &storagemigrationv1.StorageVersionMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "test-svm", Labels: label},
		Spec:       storagemigrationv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: "foo"}},
		// Status is the status subresource's: dropped on create.
		Status: storagemigrationv1.StorageVersionMigrationStatus{ResourceVersion: "1"},
	}, metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.ResourceVersion != "" {
		t.Errorf("create kept status %+v", created.Status)
	}

	created.Labels["test.storagemigration.example.com"] = "test"
	updated, err := migrations.Update(ctx, created, metav1.UpdateOptions{})
	if err != nil || updated.Labels["test.storagemigration.example.com"] != "test" {
		t.Fatalf("update labels: %v, %v", updated, err)
	}
	if updated.ResourceVersion == created.ResourceVersion {
		t.Errorf("resourceVersion did not change on update")
	}
	changed := updated.DeepCopy()
	changed.Spec.Resource.Resource = "bar"
	if _, err := migrations.Update(ctx, changed, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !contains(err.Error(), "spec: Invalid value") {
		t.Errorf("changing the spec: %v, want 422 field is immutable", err)
	}

	condition := metav1.Condition{Type: "TestCondition", Status: metav1.ConditionTrue, Reason: "TestReason", Message: "TestMessage",
		LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	withStatus := updated.DeepCopy()
	withStatus.Status.Conditions = []metav1.Condition{condition}
	withStatus.Spec.Resource.Resource = "ignored" // a status write keeps the spec
	withStatus, err = migrations.UpdateStatus(ctx, withStatus, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(withStatus.Status.Conditions) != 1 || withStatus.Spec.Resource.Resource != "foo" {
		t.Errorf("status update: %+v / %+v", withStatus.Status, withStatus.Spec)
	}
	got, err := c.client.StoragemigrationV1().RESTClient().Get().Resource("storageversionmigrations").Name("test-svm").SubResource("status").Do(ctx).Get()
	if err != nil {
		t.Fatal(err)
	}
	if m := got.(*storagemigrationv1.StorageVersionMigration); len(m.Status.Conditions) != 1 || m.Status.Conditions[0].Type != "TestCondition" {
		t.Errorf("GET status: %+v", m.Status)
	}
	// Success and failure at once is refused.
	both := withStatus.DeepCopy()
	both.Status.Conditions = append(both.Status.Conditions,
		metav1.Condition{Type: string(storagemigrationv1.MigrationSucceeded), Status: metav1.ConditionTrue, Reason: "Done", LastTransitionTime: condition.LastTransitionTime},
		metav1.Condition{Type: string(storagemigrationv1.MigrationFailed), Status: metav1.ConditionTrue, Reason: "Failed", LastTransitionTime: condition.LastTransitionTime})
	if _, err := migrations.UpdateStatus(ctx, both, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !contains(err.Error(), "status.conditions") {
		t.Errorf("succeeded and failed: %v, want 422", err)
	}

	// Recreated, then patched: spec by every patch type, status by apply.
	if err := migrations.Delete(ctx, "test-svm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Create(ctx, &storagemigrationv1.StorageVersionMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "test-svm", Labels: label},
		Spec:       storagemigrationv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: "foo"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := `{"metadata": {"labels": {"test.storagemigration.example.com": "test"}}}`
	for _, p := range []struct {
		typ  types.PatchType
		data string
	}{
		{types.StrategicMergePatchType, labels},
		{types.MergePatchType, labels},
		{types.JSONPatchType, `[{"op": "add", "path": "/metadata/labels/test.storagemigration.example.com", "value": "test"}]`},
	} {
		m, err := migrations.Patch(ctx, "test-svm", p.typ, []byte(p.data), metav1.PatchOptions{FieldValidation: "Strict"})
		if err != nil || m.Labels["test.storagemigration.example.com"] != "test" {
			t.Fatalf("%s patch: %v, %v", p.typ, m, err)
		}
	}
	applied, err := migrations.ApplyStatus(ctx, storagemigrationv1ac.StorageVersionMigration("test-svm").
		WithStatus(storagemigrationv1ac.StorageVersionMigrationStatus().WithConditions(metav1ac.Condition().
			WithType("TestCondition").WithStatus(metav1.ConditionTrue).WithReason("TestReason").WithMessage("TestMessage").
			WithLastTransitionTime(condition.LastTransitionTime))),
		metav1.ApplyOptions{FieldManager: "test-apply", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(applied.Status.Conditions) != 1 || applied.Spec.Resource.Resource != "foo" {
		t.Errorf("apply status: %+v / %+v", applied.Status, applied.Spec)
	}
	statusPatches := []struct {
		typ  types.PatchType
		data string
	}{
		{types.StrategicMergePatchType, `{"status": {"conditions": [{"type": "Running", "status": "True", "reason": "TestReason", "message": "TestMessage", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}`},
		{types.MergePatchType, `{"status": {"resourceVersion": "42"}}`},
		{types.JSONPatchType, `[{"op": "add", "path": "/status/conditions/-", "value": {"type": "Succeeded", "status": "True", "reason": "TestReason", "message": "TestMessage", "lastTransitionTime": "2026-01-01T00:00:00Z"}}]`},
	}
	for _, p := range statusPatches {
		if _, err := migrations.Patch(ctx, "test-svm", p.typ, []byte(p.data), metav1.PatchOptions{FieldValidation: "Strict"}, "status"); err != nil {
			t.Fatalf("%s status patch: %v", p.typ, err)
		}
	}
	m, err := migrations.Get(ctx, "test-svm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The strategic merge kept TestCondition beside Running, merged by type.
	var conditionTypes []string
	for _, c := range m.Status.Conditions {
		conditionTypes = append(conditionTypes, c.Type)
	}
	slices.Sort(conditionTypes)
	if got := strings.Join(conditionTypes, ","); got != "Running,Succeeded,TestCondition" || m.Status.ResourceVersion != "42" {
		t.Errorf("status after patches: conditions %s, resourceVersion %q", got, m.Status.ResourceVersion)
	}
	// Once set, the resourceVersion stays, and success is final.
	if _, err := migrations.Patch(ctx, "test-svm", types.MergePatchType, []byte(`{"status": {"resourceVersion": "43"}}`), metav1.PatchOptions{}, "status"); !apierrors.IsInvalid(err) {
		t.Errorf("changing status.resourceVersion: %v, want 422", err)
	}

	list, err := migrations.List(ctx, metav1.ListOptions{LabelSelector: "e2e-test.kubernetes.io=svm"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if err := migrations.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "e2e-test.kubernetes.io=svm"}); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Get(ctx, "test-svm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete collection: %v, want NotFound", err)
	}

	// kubectl explain and server-side apply know the kind.
	paths, err := c.client.Discovery().OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	gv, ok := paths["apis/storagemigration.k8s.io/v1"]
	if !ok {
		t.Fatal("no OpenAPI v3 document for storagemigration.k8s.io/v1")
	}
	doc, err := gv.Schema("application/json")
	if err != nil || !strings.Contains(string(doc), `"io.k8s.api.storagemigration.v1.StorageVersionMigration"`) {
		t.Errorf("OpenAPI v3 storagemigration.k8s.io/v1 lacks StorageVersionMigration (%v)", err)
	}
}
