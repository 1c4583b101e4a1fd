package printers

import (
	"reflect"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestPodDisruptionBudgetTable checks the columns against Kubernetes'
// and that Row fills one cell per column and refuses other types.
func TestPodDisruptionBudgetTable(t *testing.T) {
	var names []string
	for _, c := range PodDisruptionBudget().Columns {
		names = append(names, c.Name)
	}
	if want := []string{"Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"}; !reflect.DeepEqual(names, want) {
		t.Errorf("columns %q, want %q", names, want)
	}
	cells, err := PodDisruptionBudget().Row(&policyv1.PodDisruptionBudget{})
	if err != nil || len(cells) != len(names) {
		t.Errorf("Row = %d cells, %v; want %d", len(cells), err, len(names))
	}
	if _, err := PodDisruptionBudget().Row(&policyv1.PodDisruptionBudgetList{}); err == nil {
		t.Errorf("Row accepted a list")
	}
}

func TestPodDisruptionBudgetCells(t *testing.T) {
	one, half := intstr.FromInt32(1), intstr.FromString("50%")
	tests := []struct {
		name string
		pdb  policyv1.PodDisruptionBudget
		want []interface{}
	}{
		{"minAvailable as a number", policyv1.PodDisruptionBudget{
			ObjectMeta: meta("web"),
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one},
			Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 2},
		}, []interface{}{"web", "1", "N/A", int64(2), "10d"}},
		{"maxUnavailable as a percentage", policyv1.PodDisruptionBudget{
			ObjectMeta: meta("db"),
			Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &half},
		}, []interface{}{"db", "N/A", "50%", int64(0), "10d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, podDisruptionBudgetCells(&tt.pdb, testNow()), tt.want)
		})
	}
}
