package printers

import (
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// ValidatingWebhookConfiguration columns: Name, Webhooks, Age.
func ValidatingWebhookConfiguration() *apiresource.Table {
	return newTable(webhookColumns(), func(c *admissionregistrationv1.ValidatingWebhookConfiguration, now time.Time) []interface{} {
		return []interface{}{c.Name, int64(len(c.Webhooks)), since(c.CreationTimestamp, now)}
	})
}

// MutatingWebhookConfiguration columns: Name, Webhooks, Age.
func MutatingWebhookConfiguration() *apiresource.Table {
	return newTable(webhookColumns(), func(c *admissionregistrationv1.MutatingWebhookConfiguration, now time.Time) []interface{} {
		return []interface{}{c.Name, int64(len(c.Webhooks)), since(c.CreationTimestamp, now)}
	})
}

func webhookColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
		ageColumn(),
	}
}

// ValidatingAdmissionPolicy columns: Name, Validations, ParamKind, Age.
func ValidatingAdmissionPolicy() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Validations", "integer", "Validations indicates the number of validation rules defined in this configuration"),
		column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy"),
		ageColumn(),
	}, validatingAdmissionPolicyCells)
}

func validatingAdmissionPolicyCells(p *admissionregistrationv1.ValidatingAdmissionPolicy, now time.Time) []interface{} {
	paramKind := "<unset>"
	if pk := p.Spec.ParamKind; pk != nil {
		paramKind = pk.APIVersion + "/" + pk.Kind
	}
	return []interface{}{p.Name, int64(len(p.Spec.Validations)), paramKind, since(p.CreationTimestamp, now)}
}

// ValidatingAdmissionPolicyBinding columns: Name, PolicyName, ParamRef,
// Age.
func ValidatingAdmissionPolicyBinding() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to"),
		column("ParamRef", "string", "ParamRef indicates the param resource which sets the configuration param"),
		ageColumn(),
	}, validatingAdmissionPolicyBindingCells)
}

// validatingAdmissionPolicyBindingCells names the parameter as upstream:
// namespace/name, "*/name" when no namespace is given (the printer cannot
// tell whether the param kind is cluster-scoped), or the selector.
func validatingAdmissionPolicyBindingCells(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, now time.Time) []interface{} {
	return []interface{}{b.Name, b.Spec.PolicyName, paramRefCell(b.Spec.ParamRef), since(b.CreationTimestamp, now)}
}

func paramRefCell(pr *admissionregistrationv1.ParamRef) string {
	switch {
	case pr == nil:
		return "<unset>"
	case pr.Name != "" && pr.Namespace != "":
		return pr.Namespace + "/" + pr.Name
	case pr.Name != "":
		return "*/" + pr.Name
	case pr.Selector != nil:
		return pr.Selector.String()
	default:
		return "<unset>"
	}
}

// MutatingAdmissionPolicy columns: Name, Mutations, ParamKind, Age.
func MutatingAdmissionPolicy() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Mutations", "integer", "Mutation indicates the number of mutations rules defined in this configuration"),
		column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy"),
		ageColumn(),
	}, mutatingAdmissionPolicyCells)
}

func mutatingAdmissionPolicyCells(p *admissionregistrationv1.MutatingAdmissionPolicy, now time.Time) []interface{} {
	paramKind := "<unset>"
	if pk := p.Spec.ParamKind; pk != nil {
		paramKind = pk.APIVersion + "/" + pk.Kind
	}
	return []interface{}{p.Name, int64(len(p.Spec.Mutations)), paramKind, since(p.CreationTimestamp, now)}
}

// MutatingAdmissionPolicyBinding columns: Name, PolicyName, ParamRef, Age,
// the parameter named as a ValidatingAdmissionPolicyBinding's.
func MutatingAdmissionPolicyBinding() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to"),
		column("ParamRef", "string", "ParamRef indicates the param resource which sets the configuration param"),
		ageColumn(),
	}, mutatingAdmissionPolicyBindingCells)
}

func mutatingAdmissionPolicyBindingCells(b *admissionregistrationv1.MutatingAdmissionPolicyBinding, now time.Time) []interface{} {
	return []interface{}{b.Name, b.Spec.PolicyName, paramRefCell(b.Spec.ParamRef), since(b.CreationTimestamp, now)}
}
