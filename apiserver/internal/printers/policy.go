package printers

import (
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"coracle.dev/apiserver/internal/apiresource"
)

// PodDisruptionBudget columns: Name, Min Available, Max Unavailable,
// Allowed Disruptions, Age.
func PodDisruptionBudget() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Min Available", "string", "The minimum number of pods that must be available."),
		column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
		column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
		ageColumn(),
	}, podDisruptionBudgetCells)
}

// podDisruptionBudgetCells shows the bound the budget does not set as
// "N/A", as Kubernetes does: a budget sets exactly one of them.
func podDisruptionBudgetCells(pdb *policyv1.PodDisruptionBudget, now time.Time) []interface{} {
	return []interface{}{
		pdb.Name,
		intOrPercentCell(pdb.Spec.MinAvailable),
		intOrPercentCell(pdb.Spec.MaxUnavailable),
		int64(pdb.Status.DisruptionsAllowed),
		since(pdb.CreationTimestamp, now),
	}
}

func intOrPercentCell(v *intstr.IntOrString) string {
	if v == nil {
		return "N/A"
	}
	return v.String()
}
