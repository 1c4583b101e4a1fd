package printers

import (
	"reflect"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// TestAdmissionRegistrationColumns checks the columns against Kubernetes'.
func TestAdmissionRegistrationColumns(t *testing.T) {
	for _, tt := range []struct {
		name  string
		table *apiresource.Table
		want  []string
	}{
		{"validating webhooks", ValidatingWebhookConfiguration(), []string{"Name", "Webhooks", "Age"}},
		{"mutating webhooks", MutatingWebhookConfiguration(), []string{"Name", "Webhooks", "Age"}},
		{"policies", ValidatingAdmissionPolicy(), []string{"Name", "Validations", "ParamKind", "Age"}},
		{"bindings", ValidatingAdmissionPolicyBinding(), []string{"Name", "PolicyName", "ParamRef", "Age"}},
		{"mutating policies", MutatingAdmissionPolicy(), []string{"Name", "Mutations", "ParamKind", "Age"}},
		{"mutating bindings", MutatingAdmissionPolicyBinding(), []string{"Name", "PolicyName", "ParamRef", "Age"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var names []string
			for _, c := range tt.table.Columns {
				names = append(names, c.Name)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("columns %q, want %q", names, tt.want)
			}
		})
	}
}

func TestWebhookConfigurationCells(t *testing.T) {
	c := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: meta("inject"),
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "a.example.com"}, {Name: "b.example.com"}}}
	cells, err := MutatingWebhookConfiguration().Row(c)
	if err != nil || len(cells) != 3 || cells[0] != "inject" || cells[1] != int64(2) {
		t.Errorf("Row = %v, %v; want [inject 2 age]", cells, err)
	}
}

func TestValidatingAdmissionPolicyCells(t *testing.T) {
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: meta("replicas"),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			Validations: []admissionregistrationv1.Validation{{Expression: "true"}},
		}}
	checkCells(t, validatingAdmissionPolicyCells(p, testNow()), []interface{}{"replicas", int64(1), "<unset>", "10d"})
	p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
	checkCells(t, validatingAdmissionPolicyCells(p, testNow()), []interface{}{"replicas", int64(1), "v1/ConfigMap", "10d"})
}

func TestValidatingAdmissionPolicyBindingCells(t *testing.T) {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}
	tests := []struct {
		name  string
		param *admissionregistrationv1.ParamRef
		want  string
	}{
		{"no param", nil, "<unset>"},
		{"namespaced name", &admissionregistrationv1.ParamRef{Name: "limits", Namespace: "default"}, "default/limits"},
		{"name in any namespace", &admissionregistrationv1.ParamRef{Name: "limits"}, "*/limits"},
		{"selector as upstream prints it", &admissionregistrationv1.ParamRef{Selector: selector}, selector.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: meta("bind"),
				Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "replicas", ParamRef: tt.param}}
			checkCells(t, validatingAdmissionPolicyBindingCells(b, testNow()), []interface{}{"bind", "replicas", tt.want, "10d"})
		})
	}
}

func TestMutatingAdmissionPolicyCells(t *testing.T) {
	p := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: meta("labels"),
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch}, {PatchType: admissionregistrationv1.PatchTypeApplyConfiguration}},
		}}
	checkCells(t, mutatingAdmissionPolicyCells(p, testNow()), []interface{}{"labels", int64(2), "<unset>", "10d"})
	p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
	checkCells(t, mutatingAdmissionPolicyCells(p, testNow()), []interface{}{"labels", int64(2), "v1/ConfigMap", "10d"})
}

func TestMutatingAdmissionPolicyBindingCells(t *testing.T) {
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: meta("bind"),
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "labels",
			ParamRef: &admissionregistrationv1.ParamRef{Name: "limits", Namespace: "default"}}}
	checkCells(t, mutatingAdmissionPolicyBindingCells(b, testNow()), []interface{}{"bind", "labels", "default/limits", "10d"})
}
