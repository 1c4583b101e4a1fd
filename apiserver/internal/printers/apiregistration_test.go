package printers

import (
	"testing"

	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

func TestAPIServiceCells(t *testing.T) {
	available := func(status apiregistrationv1.ConditionStatus, reason string) apiregistrationv1.APIServiceStatus {
		return apiregistrationv1.APIServiceStatus{Conditions: []apiregistrationv1.APIServiceCondition{
			{Type: apiregistrationv1.Available, Status: status, Reason: reason},
		}}
	}
	remote := apiregistrationv1.APIServiceSpec{Service: &apiregistrationv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server"}}
	tests := []struct {
		name string
		svc  apiregistrationv1.APIService
		want []interface{}
	}{
		{"local and available", apiregistrationv1.APIService{ObjectMeta: meta("v1.apps"), Status: available(apiregistrationv1.ConditionTrue, "Local")},
			[]interface{}{"v1.apps", "Local", "True", "10d"}},
		{"remote, failing, with its reason", apiregistrationv1.APIService{ObjectMeta: meta("v1beta1.metrics.k8s.io"), Spec: remote,
			Status: available(apiregistrationv1.ConditionFalse, "MissingEndpoints")},
			[]interface{}{"v1beta1.metrics.k8s.io", "kube-system/metrics-server", "False (MissingEndpoints)", "10d"}},
		{"false without a reason", apiregistrationv1.APIService{ObjectMeta: meta("v1.x.example.com"), Spec: remote,
			Status: available(apiregistrationv1.ConditionFalse, "")},
			[]interface{}{"v1.x.example.com", "kube-system/metrics-server", "False", "10d"}},
		{"not judged yet", apiregistrationv1.APIService{ObjectMeta: meta("v1.y.example.com"), Spec: remote},
			[]interface{}{"v1.y.example.com", "kube-system/metrics-server", "Unknown", "10d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, apiServiceCells(&tt.svc, testNow()), tt.want)
		})
	}
	if cells, err := APIService().Row(&tests[0].svc); err != nil || len(cells) != len(APIService().Columns) {
		t.Errorf("Row = %v, %v; want one cell per column", cells, err)
	}
}
