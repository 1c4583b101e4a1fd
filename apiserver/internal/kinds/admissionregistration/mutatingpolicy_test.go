package admissionregistration

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

// mutatingPolicy is the conformance test's policy: deployments get 1337
// replicas.
func mutatingPolicy() *admissionregistrationv1.MutatingAdmissionPolicy {
	return &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "replicas.example.com"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
					},
				}},
			},
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType:          admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{spec: Object.spec{replicas: 1337}}`},
			}},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
}

func TestMutatingPolicyDefaults(t *testing.T) {
	p := mutatingPolicy()
	MutatingAdmissionPolicies().Strategy.Default(p)
	m := p.Spec.MatchConstraints
	switch {
	case *p.Spec.FailurePolicy != admissionregistrationv1.Fail:
		t.Errorf("failurePolicy = %s, want Fail", *p.Spec.FailurePolicy)
	case *m.MatchPolicy != admissionregistrationv1.Equivalent:
		t.Errorf("matchPolicy = %s, want Equivalent", *m.MatchPolicy)
	case m.NamespaceSelector == nil || m.ObjectSelector == nil:
		t.Errorf("selectors not defaulted to {}")
	case *m.ResourceRules[0].Scope != admissionregistrationv1.AllScopes:
		t.Errorf("scope = %s, want *", *m.ResourceRules[0].Scope)
	case p.Spec.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy:
		t.Errorf("reinvocationPolicy changed to %q", p.Spec.ReinvocationPolicy)
	}
}

func TestMutatingPolicyValidate(t *testing.T) {
	type P = *admissionregistrationv1.MutatingAdmissionPolicy
	jsonPatch := func(expr string) func(P) {
		return func(p P) {
			p.Spec.Mutations = []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: expr}}}
		}
	}
	kindstest.Create(t, MutatingAdmissionPolicies().Strategy, mutatingPolicy, []kindstest.Case[P]{
		{Name: "valid apply configuration", Mutate: func(P) {}},
		{Name: "valid JSON patch", Mutate: jsonPatch(`[JSONPatch{op: "add", path: "/metadata/labels/mutated", value: "yes"}]`)},
		{Name: "valid with params, variables and match conditions", Mutate: func(p P) {
			p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "want", Expression: `int(params.data.replicas)`}}
			p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "has-params", Expression: `params != null`}}
			p.Spec.Mutations[0].ApplyConfiguration.Expression = `Object{spec: Object.spec{replicas: variables.want}}`
		}},
		{Name: "mutations are required", Mutate: func(p P) { p.Spec.Mutations = nil },
			Path: "spec.mutations", Type: field.ErrorTypeRequired},
		{Name: "reinvocationPolicy is required", Mutate: func(p P) { p.Spec.ReinvocationPolicy = "" },
			Path: "spec.reinvocationPolicy", Type: field.ErrorTypeRequired},
		{Name: "reinvocationPolicy must be known", Mutate: func(p P) { p.Spec.ReinvocationPolicy = "Always" },
			Path: "spec.reinvocationPolicy", Type: field.ErrorTypeNotSupported},
		{Name: "failurePolicy must be known", Mutate: func(p P) { p.Spec.FailurePolicy = ptr.To(admissionregistrationv1.FailurePolicyType("Maybe")) },
			Path: "spec.failurePolicy", Type: field.ErrorTypeNotSupported},
		{Name: "matchConstraints are required", Mutate: func(p P) { p.Spec.MatchConstraints = nil },
			Path: "spec.matchConstraints", Type: field.ErrorTypeRequired},
		{Name: "resource rules give the types", Mutate: func(p P) { p.Spec.MatchConstraints.ResourceRules = nil },
			Path: "spec.matchConstraints.resourceRules", Type: field.ErrorTypeRequired},
		{Name: "deletes cannot be mutated", Mutate: func(p P) {
			p.Spec.MatchConstraints.ResourceRules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.Delete}
		}, Path: "spec.matchConstraints.resourceRules.operations", Type: field.ErrorTypeNotSupported},
		{Name: "patchType is required", Mutate: func(p P) { p.Spec.Mutations[0].PatchType = "" },
			Path: "spec.mutations[0].patchType", Type: field.ErrorTypeRequired},
		{Name: "patchType must be known", Mutate: func(p P) { p.Spec.Mutations[0].PatchType = "MergePatch" },
			Path: "spec.mutations[0].patchType", Type: field.ErrorTypeNotSupported},
		{Name: "applyConfiguration required by its patchType", Mutate: func(p P) { p.Spec.Mutations[0].ApplyConfiguration = nil },
			Path: "spec.mutations[0].applyConfiguration", Type: field.ErrorTypeRequired},
		{Name: "jsonPatch not with applyConfiguration", Mutate: func(p P) {
			p.Spec.Mutations[0].JSONPatch = &admissionregistrationv1.JSONPatch{Expression: "[]"}
		}, Path: "spec.mutations[0].jsonPatch", Type: field.ErrorTypeInvalid},
		{Name: "jsonPatch required by its patchType", Mutate: func(p P) {
			p.Spec.Mutations[0] = admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeJSONPatch}
		}, Path: "spec.mutations[0].jsonPatch", Type: field.ErrorTypeRequired},
		{Name: "a blank expression is required", Mutate: func(p P) { p.Spec.Mutations[0].ApplyConfiguration.Expression = "  " },
			Path: "spec.mutations[0].applyConfiguration.expression", Type: field.ErrorTypeRequired},
		{Name: "apply configuration must compile", Mutate: func(p P) { p.Spec.Mutations[0].ApplyConfiguration.Expression = "Object{" },
			Path: "spec.mutations[0].applyConfiguration.expression", Type: field.ErrorTypeInvalid},
		{Name: "apply configuration must return an Object", Mutate: func(p P) { p.Spec.Mutations[0].ApplyConfiguration.Expression = `"replicas"` },
			Path: "spec.mutations[0].applyConfiguration.expression", Type: field.ErrorTypeInvalid},
		{Name: "JSON patch must return a list of JSONPatch", Mutate: jsonPatch(`Object{}`),
			Path: "spec.mutations[0].jsonPatch.expression", Type: field.ErrorTypeInvalid},
		{Name: "params only with a paramKind", Mutate: func(p P) {
			p.Spec.Mutations[0].ApplyConfiguration.Expression = `Object{spec: Object.spec{replicas: int(params.data.replicas)}}`
		}, Path: "spec.mutations[0].applyConfiguration.expression", Type: field.ErrorTypeInvalid},
		{Name: "variable names are CEL identifiers", Mutate: func(p P) {
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "1st", Expression: "1"}}
		}, Path: "spec.variables[0].name", Type: field.ErrorTypeInvalid},
		{Name: "match condition must compile", Mutate: func(p P) {
			p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "bad", Expression: "object."}}
		}, Path: "spec.matchConditions[0].expression", Type: field.ErrorTypeInvalid},
	})
}

// TestMutatingPolicyUpdate: a match condition stored before is not
// compiled again when neither it nor the paramKind changes.
func TestMutatingPolicyUpdate(t *testing.T) {
	type P = *admissionregistrationv1.MutatingAdmissionPolicy
	kindstest.Update(t, MutatingAdmissionPolicies().Strategy, mutatingPolicy, "", []kindstest.Case[P]{
		{Name: "reinvocation policy may change", Mutate: func(p P) { p.Spec.ReinvocationPolicy = admissionregistrationv1.IfNeededReinvocationPolicy }},
		{Name: "a new match condition is compiled", Mutate: func(p P) {
			p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "bad", Expression: "object."}}
		}, Path: "spec.matchConditions[0].expression", Type: field.ErrorTypeInvalid},
		{Name: "mutations are checked", Mutate: func(p P) { p.Spec.Mutations = nil },
			Path: "spec.mutations", Type: field.ErrorTypeRequired},
	})
}

func mutatingBinding() *admissionregistrationv1.MutatingAdmissionPolicyBinding {
	return &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "replicas-binding"},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "replicas.example.com"},
	}
}

func TestMutatingBindingValidate(t *testing.T) {
	type B = *admissionregistrationv1.MutatingAdmissionPolicyBinding
	kindstest.Create(t, MutatingAdmissionPolicyBindings().Strategy, mutatingBinding, []kindstest.Case[B]{
		{Name: "valid with only a policy name", Mutate: func(B) {}},
		{Name: "valid with match resources defaulted", Mutate: func(b B) {
			b.Spec.MatchResources = &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e": "true"}}}
		}},
		{Name: "policyName is required", Mutate: func(b B) { b.Spec.PolicyName = "" },
			Path: "spec.policyName", Type: field.ErrorTypeRequired},
		{Name: "policyName is a DNS subdomain", Mutate: func(b B) { b.Spec.PolicyName = "Not_A_Name" },
			Path: "spec.policyName", Type: field.ErrorTypeInvalid},
		{Name: "paramRef needs a name or selector", Mutate: func(b B) {
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
		}, Path: "spec.paramRef", Type: field.ErrorTypeRequired},
		{Name: "paramRef needs a not-found action", Mutate: func(b B) {
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: "limits"}
		}, Path: "spec.paramRef.parameterNotFoundAction", Type: field.ErrorTypeRequired},
		{Name: "deletes cannot be mutated", Mutate: func(b B) {
			b.Spec.MatchResources = &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				}}}}
		}, Path: "spec.matchResources.resourceRules.operations", Type: field.ErrorTypeNotSupported},
	})
}
