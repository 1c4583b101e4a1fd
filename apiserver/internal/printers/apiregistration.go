package printers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// APIService columns: Name, Service, Available, Age, as kube-aggregator's
// APIService storage prints them.
func APIService() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Service", "string", "The reference to the service that hosts this API endpoint."),
		column("Available", "string", "Whether this service is available."),
		ageColumn(),
	}, apiServiceCells)
}

// apiServiceCells names the backing Service ("Local" when the apiserver
// serves the group-version itself) and the Available condition: its
// status, with the reason when it is not True, or "Unknown" when the
// condition has not been set.
func apiServiceCells(svc *apiregistrationv1.APIService, now time.Time) []interface{} {
	service := "Local"
	if ref := svc.Spec.Service; ref != nil {
		service = ref.Namespace + "/" + ref.Name
	}
	available := string(apiregistrationv1.ConditionUnknown)
	for _, c := range svc.Status.Conditions {
		if c.Type != apiregistrationv1.Available {
			continue
		}
		available = string(c.Status)
		if c.Status != apiregistrationv1.ConditionTrue && c.Reason != "" {
			available = fmt.Sprintf("%s (%s)", c.Status, c.Reason)
		}
		break
	}
	return []interface{}{svc.Name, service, available, since(svc.CreationTimestamp, now)}
}
