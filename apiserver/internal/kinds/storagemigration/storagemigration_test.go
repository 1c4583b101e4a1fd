package storagemigration

import (
	"testing"
	"time"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

type M = *storagemigrationv1.StorageVersionMigration

func migration() M {
	return &storagemigrationv1.StorageVersionMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "secrets"},
		Spec:       storagemigrationv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: "secrets"}},
	}
}

func TestValidate(t *testing.T) {
	kindstest.Create(t, StorageVersionMigrations().Strategy, migration, []kindstest.Case[M]{
		{Name: "core resource", Mutate: func(M) {}},
		{Name: "resource of a group", Mutate: func(m M) { m.Spec.Resource = metav1.GroupResource{Group: "apps", Resource: "deployments"} }},
		{Name: "resource is required", Mutate: func(m M) { m.Spec.Resource.Resource = "" },
			Path: "spec.resource.resource", Type: field.ErrorTypeRequired},
		{Name: "resource is a DNS-1035 label", Mutate: func(m M) { m.Spec.Resource.Resource = "Secrets" },
			Path: "spec.resource.resource", Type: field.ErrorTypeInvalid},
		{Name: "group is a DNS subdomain", Mutate: func(m M) { m.Spec.Resource.Group = "Apps_" },
			Path: "spec.resource.group", Type: field.ErrorTypeInvalid},
	})
}

func TestValidateUpdate(t *testing.T) {
	kindstest.Update(t, StorageVersionMigrations().Strategy, migration, "", []kindstest.Case[M]{
		{Name: "labels may change", Mutate: func(m M) { m.Labels = map[string]string{"test": "yes"} }},
		{Name: "spec is immutable", Mutate: func(m M) { m.Spec.Resource.Resource = "configmaps" },
			Path: "spec", Type: field.ErrorTypeInvalid},
	})
}

// TestPrepare: status is the status subresource's alone.
func TestPrepare(t *testing.T) {
	s := StorageVersionMigrations().Strategy
	m := migration()
	m.Status.ResourceVersion = "12"
	s.PrepareForCreate(m)
	if m.Status.ResourceVersion != "" {
		t.Errorf("create kept status %+v", m.Status)
	}
	old := migration()
	old.Status.ResourceVersion = "12"
	m = migration()
	s.PrepareForUpdate(m, old)
	if m.Status.ResourceVersion != "12" {
		t.Errorf("update dropped status: %+v", m.Status)
	}
}

func condition(typ string, status metav1.ConditionStatus) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: "Test", Message: "test",
		LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
}

func TestValidateStatusUpdate(t *testing.T) {
	succeeded, failed := string(storagemigrationv1.MigrationSucceeded), string(storagemigrationv1.MigrationFailed)
	for _, tt := range []struct {
		name     string
		old, new storagemigrationv1.StorageVersionMigrationStatus
		path     string
		typ      field.ErrorType
	}{
		{name: "a condition of any type", new: storagemigrationv1.StorageVersionMigrationStatus{
			Conditions: []metav1.Condition{condition("TestCondition", metav1.ConditionTrue)}}},
		{name: "resourceVersion set once", new: storagemigrationv1.StorageVersionMigrationStatus{ResourceVersion: "42"}},
		{name: "resourceVersion must parse", new: storagemigrationv1.StorageVersionMigrationStatus{ResourceVersion: "abc"},
			path: "status.resourceVersion", typ: field.ErrorTypeInvalid},
		{name: "resourceVersion is immutable once set",
			old:  storagemigrationv1.StorageVersionMigrationStatus{ResourceVersion: "42"},
			new:  storagemigrationv1.StorageVersionMigrationStatus{ResourceVersion: "43"},
			path: "status.resourceVersion", typ: field.ErrorTypeInvalid},
		{name: "conditions are well formed", new: storagemigrationv1.StorageVersionMigrationStatus{
			Conditions: []metav1.Condition{{Type: "Running", Status: "Maybe"}}},
			path: "status.conditions[0].status", typ: field.ErrorTypeNotSupported},
		{name: "not both succeeded and failed", new: storagemigrationv1.StorageVersionMigrationStatus{
			Conditions: []metav1.Condition{condition(succeeded, metav1.ConditionTrue), condition(failed, metav1.ConditionTrue)}},
			path: "status.conditions", typ: field.ErrorTypeInvalid},
		{name: "success is final",
			old:  storagemigrationv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{condition(succeeded, metav1.ConditionTrue)}},
			new:  storagemigrationv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{condition(succeeded, metav1.ConditionFalse)}},
			path: "status.conditions", typ: field.ErrorTypeInvalid},
		{name: "failure is final",
			old:  storagemigrationv1.StorageVersionMigrationStatus{Conditions: []metav1.Condition{condition(failed, metav1.ConditionTrue)}},
			path: "status.conditions", typ: field.ErrorTypeInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old, m := migration(), migration()
			old.Status, m.Status = tt.old, tt.new
			kindstest.WantErr(t, StorageVersionMigrations().Strategy.ValidateStatusUpdate(m, old), tt.path, tt.typ)
		})
	}
}
