package webhook

import (
	"context"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"
)

type fakeMutatingPolicies struct {
	policies []*admissionregistrationv1.MutatingAdmissionPolicy
	bindings []*admissionregistrationv1.MutatingAdmissionPolicyBinding
}

func (f *fakeMutatingPolicies) MutatingAdmissionPolicies() []*admissionregistrationv1.MutatingAdmissionPolicy {
	return f.policies
}

func (f *fakeMutatingPolicies) MutatingAdmissionPolicyBindings() []*admissionregistrationv1.MutatingAdmissionPolicyBinding {
	return f.bindings
}

// deducedTypes merges every kind by its JSON alone: ConfigMaps hold only
// maps, which it merges key by key as their schema would.
type deducedTypes struct{}

func (deducedTypes) TypeConverter(schema.GroupVersionKind) managedfields.TypeConverter {
	return managedfields.NewDeducedTypeConverter()
}

// applyConfig is a mutation by apply configuration.
func applyConfig(expr string) admissionregistrationv1.Mutation {
	return admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
		ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: expr}}
}

func mutatingConfigMapPolicy(name string, mutations ...admissionregistrationv1.Mutation) *admissionregistrationv1.MutatingAdmissionPolicy {
	return &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				MatchPolicy:       ptr.To(admissionregistrationv1.Equivalent),
				NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: &metav1.LabelSelector{},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule("configmaps")}},
			},
			Mutations:          mutations,
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
}

func mutatingBindingOf(policy string) *admissionregistrationv1.MutatingAdmissionPolicyBinding {
	return &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy + "-binding"},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: policy},
	}
}

func newMutatingPolicyDispatcher(t *testing.T, src *fakeMutatingPolicies, params Params, webhooks Source) *Dispatcher {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	if webhooks == nil {
		webhooks = &fakeSource{}
	}
	d, err := New(Options{Source: webhooks, Namespaces: fakeNamespaces{"default": {"env": "test"}, "prod": {"env": "prod"}},
		MutatingPolicies: src, TypeConverters: deducedTypes{}, Params: params,
		Interfaces: admission.NewObjectInterfacesFromScheme(scheme)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMutatePolicies(t *testing.T) {
	addLabel := applyConfig(`Object{metadata: Object.metadata{labels: {"mutated": "yes"}}}`)
	limitsParam := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"}, Data: map[string]string{"tier": "gold"}}
	tests := []struct {
		name     string
		policy   *admissionregistrationv1.MutatingAdmissionPolicy
		binding  func(b *admissionregistrationv1.MutatingAdmissionPolicyBinding)
		unbound  bool
		wantData map[string]string
		wantLabs map[string]string
		wantErr  string
	}{
		{name: "apply configuration adds a label", policy: mutatingConfigMapPolicy("p", addLabel),
			wantLabs: map[string]string{"mutated": "yes"}},
		{name: "JSON patch adds a key", policy: mutatingConfigMapPolicy("p", admissionregistrationv1.Mutation{
			PatchType: admissionregistrationv1.PatchTypeJSONPatch,
			JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[JSONPatch{op: "add", path: "/data/added", value: "yes"}]`},
		}), wantData: map[string]string{"start": "yes", "added": "yes"}},
		{name: "mutations apply in order, each seeing the last", policy: mutatingConfigMapPolicy("p",
			applyConfig(`Object{data: {"first": "1"}}`),
			applyConfig(`Object{data: {"second": object.data["first"] + "2"}}`)),
			wantData: map[string]string{"start": "yes", "first": "1", "second": "12"}},
		{name: "variables are read", policy: func() *admissionregistrationv1.MutatingAdmissionPolicy {
			p := mutatingConfigMapPolicy("p", applyConfig(`Object{data: {"copy": variables.start}}`))
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "start", Expression: `object.data["start"]`}}
			return p
		}(), wantData: map[string]string{"start": "yes", "copy": "yes"}},
		{name: "an unbound policy does nothing", policy: mutatingConfigMapPolicy("p", addLabel), unbound: true},
		{name: "a binding's namespace selector", policy: mutatingConfigMapPolicy("p", addLabel),
			binding: func(b *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
				b.Spec.MatchResources = &admissionregistrationv1.MatchResources{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
					ObjectSelector:    &metav1.LabelSelector{}, MatchPolicy: ptr.To(admissionregistrationv1.Equivalent)}
			}},
		{name: "a match condition that is false skips the policy", policy: func() *admissionregistrationv1.MutatingAdmissionPolicy {
			p := mutatingConfigMapPolicy("p", addLabel)
			p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "never", Expression: `object.metadata.name == "other"`}}
			return p
		}()},
		{name: "params are read", policy: func() *admissionregistrationv1.MutatingAdmissionPolicy {
			p := mutatingConfigMapPolicy("p", applyConfig(`Object{data: {"tier": params.data.tier}}`))
			p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
			return p
		}(), binding: func(b *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: "limits", ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
		}, wantData: map[string]string{"start": "yes", "tier": "gold"}},
		{name: "a missing param denied by the binding", policy: func() *admissionregistrationv1.MutatingAdmissionPolicy {
			p := mutatingConfigMapPolicy("p", addLabel)
			p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
			return p
		}(), binding: func(b *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: "missing", ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
		}, wantErr: "policy 'p' with binding 'p-binding' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"},
		{name: "a failing mutation fails the request", policy: mutatingConfigMapPolicy("p", applyConfig(`Object{data: {"n": string(1 / (size(object.data) - 1))}}`)),
			wantErr: "policy 'p' with binding 'p-binding' denied request: "},
		{name: "failurePolicy Ignore lets it through unchanged", policy: func() *admissionregistrationv1.MutatingAdmissionPolicy {
			p := mutatingConfigMapPolicy("p", applyConfig(`Object{data: {"n": string(1 / (size(object.data) - 1))}}`))
			p.Spec.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
			return p
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeMutatingPolicies{policies: []*admissionregistrationv1.MutatingAdmissionPolicy{tt.policy}}
			if !tt.unbound {
				b := mutatingBindingOf(tt.policy.Name)
				if tt.binding != nil {
					tt.binding(b)
				}
				src.bindings = append(src.bindings, b)
			}
			d := newMutatingPolicyDispatcher(t, src, fakeParams{"default/limits": limitsParam}, nil)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"start": "yes"}}
			err := d.Mutate(context.Background(), configMapCreate(cm, false), MutatingPlugins{Policies: true})
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q…", err, tt.wantErr)
				}
				if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
					t.Errorf("err is %T %v, want a status error", err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantData := tt.wantData
			if wantData == nil {
				wantData = map[string]string{"start": "yes"}
			}
			if !mapsEqual(cm.Data, wantData) || !mapsEqual(cm.Labels, tt.wantLabs) {
				t.Errorf("object data %v labels %v, want %v and %v", cm.Data, cm.Labels, wantData, tt.wantLabs)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestMutatePoliciesStatus: a failing mutation is upstream's Forbidden
// (403) with reason Invalid, its message the policy's.
func TestMutatePoliciesStatus(t *testing.T) {
	p := mutatingConfigMapPolicy("p", applyConfig(`Object{data: {"n": string(1 / 0)}}`))
	d := newMutatingPolicyDispatcher(t, &fakeMutatingPolicies{
		policies: []*admissionregistrationv1.MutatingAdmissionPolicy{p},
		bindings: []*admissionregistrationv1.MutatingAdmissionPolicyBinding{mutatingBindingOf("p")},
	}, nil, nil)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}}
	err := d.MutatePolicies(context.Background(), configMapCreate(cm, false))
	status, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("err = %v, want a status", err)
	}
	s := status.Status()
	if s.Code != 403 || s.Reason != metav1.StatusReasonInvalid || len(s.Details.Causes) != 1 || s.Details.Causes[0].Message != s.Message {
		t.Errorf("status %+v, want 403 Invalid with the message as the one cause", s)
	}
}

// TestMutatePoliciesReinvocation: policy "a" (IfNeeded) adds a label only
// once "b" has added its own, so it must run again; "b" (Never) runs once.
func TestMutatePoliciesReinvocation(t *testing.T) {
	a := mutatingConfigMapPolicy("a", applyConfig(
		`has(object.metadata.labels) && "b" in object.metadata.labels ? Object{metadata: Object.metadata{labels: {"a": "yes"}}} : Object{}`))
	a.Spec.ReinvocationPolicy = admissionregistrationv1.IfNeededReinvocationPolicy
	b := mutatingConfigMapPolicy("b", applyConfig(`Object{metadata: Object.metadata{labels: {"b": "yes"}}}`))
	src := &fakeMutatingPolicies{
		policies: []*admissionregistrationv1.MutatingAdmissionPolicy{b, a},
		bindings: []*admissionregistrationv1.MutatingAdmissionPolicyBinding{mutatingBindingOf("a"), mutatingBindingOf("b")},
	}
	for _, tt := range []struct {
		name   string
		policy admissionregistrationv1.ReinvocationPolicyType
		want   map[string]string
	}{
		{"IfNeeded runs again", admissionregistrationv1.IfNeededReinvocationPolicy, map[string]string{"a": "yes", "b": "yes"}},
		{"Never does not", admissionregistrationv1.NeverReinvocationPolicy, map[string]string{"b": "yes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a.Spec.ReinvocationPolicy = tt.policy
			a.ResourceVersion += "1" // compiled again
			d := newMutatingPolicyDispatcher(t, src, nil, nil)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}}
			if err := d.Mutate(context.Background(), configMapCreate(cm, false), MutatingPlugins{Policies: true}); err != nil {
				t.Fatal(err)
			}
			if !mapsEqual(cm.Labels, tt.want) {
				t.Errorf("labels %v, want %v", cm.Labels, tt.want)
			}
		})
	}
}

// TestMutatePoliciesBeforeWebhooks: policies run first, so a webhook sees
// what they changed; a webhook's change makes an IfNeeded policy run
// again.
func TestMutatePoliciesBeforeWebhooks(t *testing.T) {
	var (
		mu   sync.Mutex // guards seen: the webhook answers on the server's goroutine
		seen string
	)
	srv := newServer(t, func(_ string, cm *corev1.ConfigMap, resp *admissionv1.AdmissionResponse) {
		mu.Lock()
		seen = cm.Data["policy"]
		mu.Unlock()
		addKey(cm, resp, "webhook", always)
	})
	hooks := &fakeSource{mutating: []*admissionregistrationv1.MutatingWebhookConfiguration{{
		ObjectMeta: metav1.ObjectMeta{Name: "hook", ResourceVersion: "1"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{mutatingHook("hook.example.com", srv.config("/hook"), admissionregistrationv1.NeverReinvocationPolicy)},
	}}}
	p := mutatingConfigMapPolicy("p", applyConfig(
		`Object{data: {"policy": "yes", "saw-webhook": string(has(object.data) && "webhook" in object.data)}}`))
	p.Spec.ReinvocationPolicy = admissionregistrationv1.IfNeededReinvocationPolicy
	d := newMutatingPolicyDispatcher(t, &fakeMutatingPolicies{
		policies: []*admissionregistrationv1.MutatingAdmissionPolicy{p},
		bindings: []*admissionregistrationv1.MutatingAdmissionPolicyBinding{mutatingBindingOf("p")},
	}, nil, hooks)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}}
	if err := d.Mutate(context.Background(), configMapCreate(cm, false), MutatingPlugins{Policies: true, Webhooks: true}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen != "yes" {
		t.Errorf("the webhook saw policy=%q, want the policy's change", seen)
	}
	want := map[string]string{"policy": "yes", "webhook": "yes", "saw-webhook": "true"}
	if !mapsEqual(cm.Data, want) {
		t.Errorf("data %v, want %v (the policy run again after the webhook)", cm.Data, want)
	}
	if got := srv.calls(); len(got) != 1 {
		t.Errorf("webhook called %d times, want once (Never)", len(got))
	}
}

// TestMutatePoliciesSkipsDeletes: a delete has no object to mutate.
func TestMutatePoliciesSkipsDeletes(t *testing.T) {
	d := newMutatingPolicyDispatcher(t, &fakeMutatingPolicies{
		policies: []*admissionregistrationv1.MutatingAdmissionPolicy{mutatingConfigMapPolicy("p", applyConfig(`Object{data: {"n": string(1 / 0)}}`))},
		bindings: []*admissionregistrationv1.MutatingAdmissionPolicyBinding{mutatingBindingOf("p")},
	}, nil, nil)
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}}
	old.SetGroupVersionKind(configMapKind)
	attr := NewAttributes(Request{Operation: admission.Delete, Kind: configMapKind, Resource: configMapsGVR,
		Namespace: "default", Name: "c", OldObject: old, Options: &metav1.DeleteOptions{}})
	if err := d.MutatePolicies(context.Background(), attr); err != nil {
		t.Fatalf("delete: %v", err)
	}
}
