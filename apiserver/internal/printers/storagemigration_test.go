package printers

import (
	"testing"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStorageVersionMigrationCells(t *testing.T) {
	cond := func(typ storagemigrationv1.MigrationConditionType, status metav1.ConditionStatus) metav1.Condition {
		return metav1.Condition{Type: string(typ), Status: status}
	}
	for _, tt := range []struct {
		name       string
		resource   metav1.GroupResource
		conditions []metav1.Condition
		want       []interface{}
	}{
		{"core resource, no conditions", metav1.GroupResource{Resource: "secrets"}, nil, []interface{}{"m", "secrets", "Unknown"}},
		{"running", metav1.GroupResource{Group: "apps", Resource: "deployments"},
			[]metav1.Condition{cond(storagemigrationv1.MigrationRunning, metav1.ConditionTrue)}, []interface{}{"m", "deployments.apps", "Running"}},
		{"the last true condition wins", metav1.GroupResource{Resource: "secrets"},
			[]metav1.Condition{cond(storagemigrationv1.MigrationRunning, metav1.ConditionFalse), cond(storagemigrationv1.MigrationSucceeded, metav1.ConditionTrue)},
			[]interface{}{"m", "secrets", "Succeeded"}},
		{"other conditions are not shown", metav1.GroupResource{Resource: "secrets"},
			[]metav1.Condition{{Type: "TestCondition", Status: metav1.ConditionTrue}}, []interface{}{"m", "secrets", "Unknown"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &storagemigrationv1.StorageVersionMigration{ObjectMeta: meta("m"),
				Spec:   storagemigrationv1.StorageVersionMigrationSpec{Resource: tt.resource},
				Status: storagemigrationv1.StorageVersionMigrationStatus{Conditions: tt.conditions}}
			checkCells(t, storageVersionMigrationCells(m, testNow()), tt.want)
			if cells, err := StorageVersionMigration().Row(m); err != nil || len(cells) != 3 {
				t.Errorf("Row = %v, %v; want 3 cells", cells, err)
			}
		})
	}
}
