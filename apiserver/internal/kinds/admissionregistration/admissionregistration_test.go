package admissionregistration

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func validatingConfig() *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "deny"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "deny.example.com",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: "default", Name: "hook", Path: ptr.To("/validate")},
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
			}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

func mutatingConfig() *admissionregistrationv1.MutatingWebhookConfiguration {
	v := validatingConfig().Webhooks[0]
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "inject"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "inject.example.com", ClientConfig: v.ClientConfig, Rules: v.Rules,
			SideEffects: v.SideEffects, AdmissionReviewVersions: v.AdmissionReviewVersions,
		}},
	}
}

func TestWebhookDefaults(t *testing.T) {
	c := mutatingConfig()
	MutatingWebhookConfigurations().Strategy.Default(c)
	h := c.Webhooks[0]
	switch {
	case *h.FailurePolicy != admissionregistrationv1.Fail:
		t.Errorf("failurePolicy = %s, want Fail", *h.FailurePolicy)
	case *h.MatchPolicy != admissionregistrationv1.Equivalent:
		t.Errorf("matchPolicy = %s, want Equivalent", *h.MatchPolicy)
	case h.NamespaceSelector == nil || h.ObjectSelector == nil:
		t.Errorf("selectors not defaulted to {}")
	case *h.TimeoutSeconds != 10:
		t.Errorf("timeoutSeconds = %d, want 10", *h.TimeoutSeconds)
	case *h.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy:
		t.Errorf("reinvocationPolicy = %s, want Never", *h.ReinvocationPolicy)
	case *h.Rules[0].Scope != admissionregistrationv1.AllScopes:
		t.Errorf("scope = %s, want *", *h.Rules[0].Scope)
	case *h.ClientConfig.Service.Port != 443:
		t.Errorf("service port = %d, want 443", *h.ClientConfig.Service.Port)
	}
}

func TestValidatingWebhookValidate(t *testing.T) {
	hook := func(f func(h *admissionregistrationv1.ValidatingWebhook)) func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
		return func(c *admissionregistrationv1.ValidatingWebhookConfiguration) { f(&c.Webhooks[0]) }
	}
	rule := func(f func(r *admissionregistrationv1.RuleWithOperations)) func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
		return hook(func(h *admissionregistrationv1.ValidatingWebhook) { f(&h.Rules[0]) })
	}
	kindstest.Create(t, ValidatingWebhookConfigurations().Strategy, validatingConfig, []kindstest.Case[*admissionregistrationv1.ValidatingWebhookConfiguration]{
		{Name: "valid", Mutate: func(*admissionregistrationv1.ValidatingWebhookConfiguration) {}},
		{Name: "name must be fully qualified", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) { h.Name = "deny" }),
			Path: "webhooks[0].name", Type: field.ErrorTypeInvalid},
		{Name: "sideEffects is required", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) { h.SideEffects = nil }),
			Path: "webhooks[0].sideEffects", Type: field.ErrorTypeRequired},
		{Name: "sideEffects Some is refused on create", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) {
			h.SideEffects = ptr.To(admissionregistrationv1.SideEffectClassSome)
		}), Path: "webhooks[0].sideEffects", Type: field.ErrorTypeNotSupported},
		{Name: "admissionReviewVersions is required", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) { h.AdmissionReviewVersions = nil }),
			Path: "webhooks[0].admissionReviewVersions", Type: field.ErrorTypeRequired},
		{Name: "an unknown review version alone is refused", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) { h.AdmissionReviewVersions = []string{"v2"} }),
			Path: "webhooks[0].admissionReviewVersions", Type: field.ErrorTypeInvalid},
		{Name: "timeout above 30s", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) { h.TimeoutSeconds = ptr.To[int32](31) }),
			Path: "webhooks[0].timeoutSeconds", Type: field.ErrorTypeInvalid},
		{Name: "url and service together", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) { h.ClientConfig.URL = ptr.To("https://example.com") }),
			Path: "webhooks[0].clientConfig", Type: field.ErrorTypeRequired},
		{Name: "url must be https", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) {
			h.ClientConfig.Service, h.ClientConfig.URL = nil, ptr.To("http://example.com/hook")
		}), Path: "webhooks[0].clientConfig.url", Type: field.ErrorTypeInvalid},
		{Name: "unknown operation", Mutate: rule(func(r *admissionregistrationv1.RuleWithOperations) {
			r.Operations = []admissionregistrationv1.OperationType{"PATCH"}
		}),
			Path: "webhooks[0].rules[0].operations[0]", Type: field.ErrorTypeNotSupported},
		{Name: "wildcard operation with others", Mutate: rule(func(r *admissionregistrationv1.RuleWithOperations) {
			r.Operations = []admissionregistrationv1.OperationType{"*", "CREATE"}
		}), Path: "webhooks[0].rules[0].operations", Type: field.ErrorTypeInvalid},
		{Name: "apiVersions required", Mutate: rule(func(r *admissionregistrationv1.RuleWithOperations) { r.APIVersions = nil }),
			Path: "webhooks[0].rules[0].apiVersions", Type: field.ErrorTypeRequired},
		{Name: "pods/* with pods/status", Mutate: rule(func(r *admissionregistrationv1.RuleWithOperations) { r.Resources = []string{"pods/*", "pods/status"} }),
			Path: "webhooks[0].rules[0].resources[1]", Type: field.ErrorTypeInvalid},
		{Name: "* with a plain resource", Mutate: rule(func(r *admissionregistrationv1.RuleWithOperations) { r.Resources = []string{"*", "pods"} }),
			Path: "webhooks[0].rules[0].resources", Type: field.ErrorTypeInvalid},
		{Name: "* with subresources is fine", Mutate: rule(func(r *admissionregistrationv1.RuleWithOperations) { r.Resources = []string{"*", "*/status"} })},
		{Name: "bad scope", Mutate: rule(func(r *admissionregistrationv1.RuleWithOperations) {
			r.Scope = ptr.To(admissionregistrationv1.ScopeType("Global"))
		}),
			Path: "webhooks[0].rules[0].scope", Type: field.ErrorTypeNotSupported},
		{Name: "duplicate webhook names", Mutate: func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks = append(c.Webhooks, c.Webhooks[0])
		}, Path: "webhooks[1].name", Type: field.ErrorTypeDuplicate},
		{Name: "match condition compiles", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) {
			h.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "skip-me", Expression: "object.metadata.name != 'skip-me'"}}
		})},
		{Name: "bad match condition", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) {
			h.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "bad", Expression: "... [] bad expression"}}
		}), Path: "webhooks[0].matchConditions[0].expression", Type: field.ErrorTypeInvalid},
		{Name: "match condition must be a bool", Mutate: hook(func(h *admissionregistrationv1.ValidatingWebhook) {
			h.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "str", Expression: "'a'"}}
		}), Path: "webhooks[0].matchConditions[0].expression", Type: field.ErrorTypeInvalid},
	})
}

// TestMatchConditionCompilationMessage keeps the text the conformance
// suite looks for.
func TestMatchConditionCompilationMessage(t *testing.T) {
	c := mutatingConfig()
	c.Webhooks[0].MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "bad", Expression: "... [] bad expression"}}
	s := MutatingWebhookConfigurations().Strategy
	s.Default(c)
	errs := s.Validate(c)
	if len(errs) != 1 || len(errs[0].Detail) < 18 || errs[0].Detail[:18] != "compilation failed" {
		t.Fatalf("errors %v, want one starting with \"compilation failed\"", errs)
	}
}

func TestMutatingWebhookValidate(t *testing.T) {
	kindstest.Create(t, MutatingWebhookConfigurations().Strategy, mutatingConfig, []kindstest.Case[*admissionregistrationv1.MutatingWebhookConfiguration]{
		{Name: "valid", Mutate: func(*admissionregistrationv1.MutatingWebhookConfiguration) {}},
		{Name: "unknown reinvocation policy", Mutate: func(c *admissionregistrationv1.MutatingWebhookConfiguration) {
			c.Webhooks[0].ReinvocationPolicy = ptr.To(admissionregistrationv1.ReinvocationPolicyType("Always"))
		}, Path: "webhooks[0].reinvocationPolicy", Type: field.ErrorTypeNotSupported},
	})
}

func TestWebhookUpdate(t *testing.T) {
	kindstest.Update(t, ValidatingWebhookConfigurations().Strategy, validatingConfig, "", []kindstest.Case[*admissionregistrationv1.ValidatingWebhookConfiguration]{
		{Name: "rules may change", Mutate: func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].Rules[0].Resources = []string{"pods"}
		}},
		{Name: "side effects stay strict", Mutate: func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].SideEffects = ptr.To(admissionregistrationv1.SideEffectClassUnknown)
		}, Path: "webhooks[0].sideEffects", Type: field.ErrorTypeNotSupported},
	})
}

// TestWebhookGeneration: a change of webhooks is a new generation, a
// change of labels is not.
func TestWebhookGeneration(t *testing.T) {
	s := ValidatingWebhookConfigurations().Strategy
	old := validatingConfig()
	old.Generation = 1
	labelled := old.DeepCopy()
	labelled.Labels = map[string]string{"a": "b"}
	s.PrepareForUpdate(labelled, old)
	if labelled.Generation != 1 {
		t.Errorf("label change: generation %d, want 1", labelled.Generation)
	}
	changed := old.DeepCopy()
	changed.Webhooks[0].Name = "other.example.com"
	s.PrepareForUpdate(changed, old)
	if changed.Generation != 2 {
		t.Errorf("webhook change: generation %d, want 2", changed.Generation)
	}
}

func policy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "replicas"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5"}},
		},
	}
}

func TestPolicyDefaults(t *testing.T) {
	p := policy()
	ValidatingAdmissionPolicies().Strategy.Default(p)
	m := p.Spec.MatchConstraints
	if *p.Spec.FailurePolicy != admissionregistrationv1.Fail || *m.MatchPolicy != admissionregistrationv1.Equivalent ||
		m.NamespaceSelector == nil || m.ObjectSelector == nil || *m.ResourceRules[0].Scope != admissionregistrationv1.AllScopes {
		t.Errorf("defaults not applied: %+v", p.Spec)
	}
}

func TestPolicyValidate(t *testing.T) {
	kindstest.Create(t, ValidatingAdmissionPolicies().Strategy, policy, []kindstest.Case[*admissionregistrationv1.ValidatingAdmissionPolicy]{
		{Name: "valid", Mutate: func(*admissionregistrationv1.ValidatingAdmissionPolicy) {}},
		{Name: "matchConstraints required", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.MatchConstraints = nil },
			Path: "spec.matchConstraints", Type: field.ErrorTypeRequired},
		{Name: "resourceRules required", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.MatchConstraints.ResourceRules = nil
		}, Path: "spec.matchConstraints.resourceRules", Type: field.ErrorTypeRequired},
		{Name: "validations or auditAnnotations required", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.Validations = nil },
			Path: "spec.validations", Type: field.ErrorTypeRequired},
		{Name: "expression must compile", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Expression = "object.spec.replicas <="
		}, Path: "spec.validations[0].expression", Type: field.ErrorTypeInvalid},
		{Name: "expression must be a bool", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Expression = "object.spec.replicas"
		}, Path: "spec.validations[0].expression", Type: field.ErrorTypeInvalid},
		{Name: "message expression must be a string", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].MessageExpression = "1"
		}, Path: "spec.validations[0].messageExpression", Type: field.ErrorTypeInvalid},
		{Name: "message without line breaks", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Message = "too\nmany"
		}, Path: "spec.validations[0].message", Type: field.ErrorTypeInvalid},
		{Name: "variables are usable", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "replicas", Expression: "object.spec.replicas"}}
			p.Spec.Validations[0].Expression = "variables.replicas <= 5"
		}},
		{Name: "variable name must be a CEL identifier", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "in", Expression: "1"}}
		}, Path: "spec.variables[0].name", Type: field.ErrorTypeInvalid},
		{Name: "params need a paramKind", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Expression = "object.spec.replicas <= params.max"
		}, Path: "spec.validations[0].expression", Type: field.ErrorTypeInvalid},
		{Name: "params with a paramKind", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
			p.Spec.Validations[0].Expression = "object.spec.replicas <= int(params.data.max)"
		}},
		{Name: "paramKind needs a kind", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1"}
		}, Path: "spec.paramKind.kind", Type: field.ErrorTypeRequired},
		{Name: "audit annotation key must qualify the policy name", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.AuditAnnotations = []admissionregistrationv1.AuditAnnotation{{Key: "bad key", ValueExpression: "'x'"}}
		}, Path: "spec.auditAnnotations[0].key", Type: field.ErrorTypeInvalid},
		{Name: "unknown failure policy", Mutate: func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.FailurePolicy = ptr.To(admissionregistrationv1.FailurePolicyType("Maybe"))
		}, Path: "spec.failurePolicy", Type: field.ErrorTypeNotSupported},
	})
}

func binding() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "replicas"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "replicas",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
}

func TestBindingValidate(t *testing.T) {
	kindstest.Create(t, ValidatingAdmissionPolicyBindings().Strategy, binding, []kindstest.Case[*admissionregistrationv1.ValidatingAdmissionPolicyBinding]{
		{Name: "valid", Mutate: func(*admissionregistrationv1.ValidatingAdmissionPolicyBinding) {}},
		{Name: "policyName required", Mutate: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.PolicyName = "" },
			Path: "spec.policyName", Type: field.ErrorTypeRequired},
		{Name: "validationActions required", Mutate: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.ValidationActions = nil },
			Path: "spec.validationActions", Type: field.ErrorTypeRequired},
		{Name: "Deny and Warn together", Mutate: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Warn}
		}, Path: "spec.validationActions", Type: field.ErrorTypeInvalid},
		{Name: "paramRef needs name or selector", Mutate: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
		}, Path: "spec.paramRef", Type: field.ErrorTypeRequired},
		{Name: "paramRef needs parameterNotFoundAction", Mutate: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: "limits"}
		}, Path: "spec.paramRef.parameterNotFoundAction", Type: field.ErrorTypeRequired},
		{Name: "matchResources selectors are defaulted", Mutate: func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.MatchResources = &admissionregistrationv1.MatchResources{}
		}},
	})
}

// TestPolicyStatusIsTheServers: a spec write keeps the stored status.
func TestPolicyStatusIsTheServers(t *testing.T) {
	s := ValidatingAdmissionPolicies().Strategy
	old := policy()
	old.Status.ObservedGeneration = 3
	p := old.DeepCopy()
	p.Status = admissionregistrationv1.ValidatingAdmissionPolicyStatus{}
	s.PrepareForUpdate(p, old)
	if p.Status.ObservedGeneration != 3 {
		t.Errorf("status not kept: %+v", p.Status)
	}
	created := policy()
	created.Status.ObservedGeneration = 9
	s.PrepareForCreate(created)
	if created.Status.ObservedGeneration != 0 {
		t.Errorf("status kept on create: %+v", created.Status)
	}
}
