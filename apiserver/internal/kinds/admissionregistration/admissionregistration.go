// Package admissionregistration defines admissionregistration.k8s.io/v1:
// ValidatingWebhookConfigurations and MutatingWebhookConfigurations, which
// tell the apiserver which admission webhooks to call for which requests,
// ValidatingAdmissionPolicies with their bindings, which judge requests
// with CEL expressions inside the apiserver, and MutatingAdmissionPolicies
// with their bindings, which change them with CEL. All six are
// cluster-scoped, defaulted and validated as Kubernetes'
// pkg/apis/admissionregistration does; the admission itself lives in
// internal/webhook.
package admissionregistration

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// Resource names of the group's kinds.
const (
	ResourceValidatingWebhookConfigurations   = "validatingwebhookconfigurations"
	ResourceMutatingWebhookConfigurations     = "mutatingwebhookconfigurations"
	ResourceValidatingAdmissionPolicies       = "validatingadmissionpolicies"
	ResourceValidatingAdmissionPolicyBindings = "validatingadmissionpolicybindings"
	ResourceMutatingAdmissionPolicies         = "mutatingadmissionpolicies"
	ResourceMutatingAdmissionPolicyBindings   = "mutatingadmissionpolicybindings"
)

// All returns the admissionregistration.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{
		ValidatingWebhookConfigurations(), MutatingWebhookConfigurations(),
		ValidatingAdmissionPolicies(), ValidatingAdmissionPolicyBindings(),
		MutatingAdmissionPolicies(), MutatingAdmissionPolicyBindings(),
	}
}

// ValidatingWebhookConfigurations: cluster-scoped, in the api-extensions
// category as upstream lists them.
func ValidatingWebhookConfigurations() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(admissionregistrationv1.SchemeGroupVersion, ResourceValidatingWebhookConfigurations,
		&admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfigurationList{})
	d.Categories = []string{"api-extensions"}
	d.TracksGeneration = true
	d.Strategy = validatingWebhookStrategy{}
	d.Table = printers.ValidatingWebhookConfiguration()
	return d
}

// MutatingWebhookConfigurations: cluster-scoped, in the api-extensions
// category.
func MutatingWebhookConfigurations() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(admissionregistrationv1.SchemeGroupVersion, ResourceMutatingWebhookConfigurations,
		&admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfigurationList{})
	d.Categories = []string{"api-extensions"}
	d.TracksGeneration = true
	d.Strategy = mutatingWebhookStrategy{}
	d.Table = printers.MutatingWebhookConfiguration()
	return d
}

// ValidatingAdmissionPolicies: cluster-scoped, with a status subresource
// the apiserver writes its type checking into.
func ValidatingAdmissionPolicies() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(admissionregistrationv1.SchemeGroupVersion, ResourceValidatingAdmissionPolicies,
		&admissionregistrationv1.ValidatingAdmissionPolicy{}, &admissionregistrationv1.ValidatingAdmissionPolicyList{})
	d.Categories = []string{"api-extensions"}
	d.Subresources = []string{apiresource.Status}
	d.TracksGeneration = true
	d.Strategy = policyStrategy{}
	d.Table = printers.ValidatingAdmissionPolicy()
	return d
}

// ValidatingAdmissionPolicyBindings: cluster-scoped.
func ValidatingAdmissionPolicyBindings() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(admissionregistrationv1.SchemeGroupVersion, ResourceValidatingAdmissionPolicyBindings,
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{})
	d.Categories = []string{"api-extensions"}
	d.TracksGeneration = true
	d.Strategy = bindingStrategy{}
	d.Table = printers.ValidatingAdmissionPolicyBinding()
	return d
}

// MutatingAdmissionPolicies: cluster-scoped, without a status (upstream
// gives the kind none).
func MutatingAdmissionPolicies() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(admissionregistrationv1.SchemeGroupVersion, ResourceMutatingAdmissionPolicies,
		&admissionregistrationv1.MutatingAdmissionPolicy{}, &admissionregistrationv1.MutatingAdmissionPolicyList{})
	d.Categories = []string{"api-extensions"}
	d.TracksGeneration = true
	d.Strategy = mutatingPolicyStrategy{}
	d.Table = printers.MutatingAdmissionPolicy()
	return d
}

// MutatingAdmissionPolicyBindings: cluster-scoped.
func MutatingAdmissionPolicyBindings() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(admissionregistrationv1.SchemeGroupVersion, ResourceMutatingAdmissionPolicyBindings,
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, &admissionregistrationv1.MutatingAdmissionPolicyBindingList{})
	d.Categories = []string{"api-extensions"}
	d.TracksGeneration = true
	d.Strategy = mutatingBindingStrategy{}
	d.Table = printers.MutatingAdmissionPolicyBinding()
	return d
}
