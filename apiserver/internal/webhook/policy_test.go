package webhook

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"
)

type fakePolicies struct {
	policies []*admissionregistrationv1.ValidatingAdmissionPolicy
	bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

func (f *fakePolicies) ValidatingAdmissionPolicies() []*admissionregistrationv1.ValidatingAdmissionPolicy {
	return f.policies
}

func (f *fakePolicies) ValidatingAdmissionPolicyBindings() []*admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return f.bindings
}

// fakeParams serves ConfigMaps as parameters.
type fakeParams map[string]*corev1.ConfigMap // by namespace/name

func (f fakeParams) ParamScope(kind schema.GroupVersionKind) (bool, bool) {
	return kind == configMapKind, true
}

func (f fakeParams) Param(_ context.Context, _ schema.GroupVersionKind, namespace, name string) (runtime.Object, error) {
	if cm, ok := f[namespace+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (f fakeParams) ListParams(_ schema.GroupVersionKind, namespace string, selector labels.Selector) ([]runtime.Object, error) {
	var out []runtime.Object
	for _, cm := range f {
		if cm.Namespace == namespace && selector.Matches(labels.Set(cm.Labels)) {
			out = append(out, cm)
		}
	}
	return out, nil
}

func configMapPolicy(name string, mutate func(p *admissionregistrationv1.ValidatingAdmissionPolicySpec)) *admissionregistrationv1.ValidatingAdmissionPolicy {
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				MatchPolicy:       ptr.To(admissionregistrationv1.Equivalent),
				NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: &metav1.LabelSelector{},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule("configmaps")}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "!has(object.data) || !('forbidden' in object.data)", Message: "no forbidden key"}},
		},
	}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func bindingOf(policy string, actions ...admissionregistrationv1.ValidationAction) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy + "-binding"},
		Spec:       admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy, ValidationActions: actions},
	}
}

func TestValidatePolicies(t *testing.T) {
	deny := admissionregistrationv1.Deny
	bad := map[string]string{"forbidden": "x"}
	tests := []struct {
		name     string
		policy   *admissionregistrationv1.ValidatingAdmissionPolicy
		binding  *admissionregistrationv1.ValidatingAdmissionPolicyBinding
		ns       string
		data     map[string]string
		code     int32
		message  string
		warnings []string
		audit    string
	}{
		{name: "allowed", policy: configMapPolicy("p", nil), binding: bindingOf("p", deny), ns: "default"},
		{name: "denied as Invalid", policy: configMapPolicy("p", nil), binding: bindingOf("p", deny), ns: "default", data: bad,
			code: 422, message: "ValidatingAdmissionPolicy 'p' with binding 'p-binding' denied request: no forbidden key"},
		{name: "the validation's reason", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations[0].Reason = ptr.To(metav1.StatusReasonForbidden)
		}), binding: bindingOf("p", deny), ns: "default", data: bad, code: 403, message: "ValidatingAdmissionPolicy 'p'"},
		{name: "message expression", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations[0].MessageExpression = "'bad configmap ' + object.metadata.name"
		}), binding: bindingOf("p", deny), ns: "default", data: bad, code: 422, message: "ValidatingAdmissionPolicy 'p' with binding 'p-binding' denied request: bad configmap c"},
		{name: "warn", policy: configMapPolicy("p", nil), binding: bindingOf("p", admissionregistrationv1.Warn), ns: "default", data: bad,
			warnings: []string{"Validation failed for ValidatingAdmissionPolicy 'p' with binding 'p-binding': no forbidden key"}},
		{name: "audit", policy: configMapPolicy("p", nil), binding: bindingOf("p", admissionregistrationv1.Audit), ns: "default", data: bad,
			audit: `"message":"no forbidden key"`},
		{name: "unbound policy does nothing", policy: configMapPolicy("p", nil), binding: bindingOf("other", deny), ns: "default", data: bad},
		{name: "binding's namespace selector", policy: configMapPolicy("p", nil), binding: func() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
			b := bindingOf("p", deny)
			b.Spec.MatchResources = &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}, ObjectSelector: &metav1.LabelSelector{}}
			return b
		}(), ns: "default", data: bad},
		{name: "excluded by name", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.MatchConstraints.ExcludeResourceRules = []admissionregistrationv1.NamedRuleWithOperations{{ResourceNames: []string{"c"}, RuleWithOperations: rule("configmaps")}}
		}), binding: bindingOf("p", deny), ns: "default", data: bad},
		{name: "match condition false", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "only-d", Expression: "object.metadata.name == 'd'"}}
		}), binding: bindingOf("p", deny), ns: "default", data: bad},
		{name: "params by name", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
			s.Validations[0] = admissionregistrationv1.Validation{Expression: "!(params.data.key in object.data)", MessageExpression: "'key ' + params.data.key"}
		}), binding: func() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
			b := bindingOf("p", deny)
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: "limits", ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
			return b
		}(), ns: "default", data: bad, code: 422, message: "denied request: key forbidden"},
		{name: "missing param with Deny", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
		}), binding: func() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
			b := bindingOf("p", deny)
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: "absent", ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
			return b
		}(), ns: "default", code: 422, message: "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"},
		{name: "runtime error with failurePolicy Ignore", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
			s.Validations[0].Expression = "object.data.missing == 'x'"
		}), binding: bindingOf("p", deny), ns: "default", data: bad},
		{name: "runtime error with failurePolicy Fail", policy: configMapPolicy("p", func(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) {
			s.Validations[0].Expression = "object.data.missing == 'x'"
		}), binding: bindingOf("p", deny), ns: "default", data: bad, code: 422, message: "ValidatingAdmissionPolicy 'p' with binding 'p-binding' denied request: expression 'object.data.missing == 'x'' resulted in error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			_ = corev1.AddToScheme(scheme)
			d, err := New(Options{
				Source:     &fakeSource{},
				Policies:   &fakePolicies{policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{tt.policy}, bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{tt.binding}},
				Params:     fakeParams{"default/limits": {ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"}, Data: map[string]string{"key": "forbidden"}}},
				Namespaces: fakeNamespaces{"default": {"env": "test"}},
				Interfaces: admission.NewObjectInterfacesFromScheme(scheme),
			})
			if err != nil {
				t.Fatal(err)
			}
			attr := configMapCreate(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: tt.ns}, Data: tt.data}, false)
			err = d.ValidatePolicies(context.Background(), attr)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
			} else {
				status, ok := err.(apierrors.APIStatus)
				if !ok || status.Status().Code != tt.code || !strings.Contains(status.Status().Message, tt.message) {
					t.Fatalf("got %v, want %d %q", err, tt.code, tt.message)
				}
			}
			if got := strings.Join(attr.Warnings(), "|"); got != strings.Join(tt.warnings, "|") {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
			if got := attr.Annotations()["validation.policy.admission.k8s.io/validation_failure"]; !strings.Contains(got, tt.audit) || (tt.audit == "") != (got == "") {
				t.Errorf("audit annotation %q, want one with %q", got, tt.audit)
			}
		})
	}
}
