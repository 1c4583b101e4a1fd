package integration

import (
	"context"
	"fmt"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestMutatingAdmissionPolicyMutatesDeployments: as the conformance
// tests, a policy bound to the Deployments of labelled namespaces sets
// their replicas and an annotation by apply configuration, and another
// annotation by JSON patch (which sees what the mutations before it
// did); Deployments elsewhere are left alone.
func TestMutatingAdmissionPolicyMutatesDeployments(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	const selected = "map-selected"
	_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: selected, Labels: map[string]string{selected: "true"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	onlySelected := &metav1.LabelSelector{MatchLabels: map[string]string{selected: "true"}}
	_, err = c.client.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deployments.example.com"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: onlySelected,
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
					},
				}},
			},
			Mutations: []admissionregistrationv1.Mutation{
				{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration, ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{
					Expression: `Object{metadata: Object.metadata{annotations: {"mutated-by": "admission-policy"}}}`}},
				{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration, ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{
					Expression: `Object{spec: Object.spec{replicas: 1337}}`}},
				{PatchType: admissionregistrationv1.PatchTypeJSONPatch, JSONPatch: &admissionregistrationv1.JSONPatch{
					Expression: `[JSONPatch{op: "add", path: "/metadata/annotations/replicas", value: string(object.spec.replicas)}]`}},
			},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.client.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployments-binding.example.com"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName:     "deployments.example.com",
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: onlySelected},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	deployments := c.client.AppsV1().Deployments(selected)
	untilAdmitted(t, "the mutation", func() error {
		created, err := deployments.Create(ctx, deployment("marker", 1), metav1.CreateOptions{})
		if err != nil {
			return err
		}
		defer func() { _ = deployments.Delete(ctx, "marker", metav1.DeleteOptions{}) }()
		if created.Annotations["mutated-by"] != "admission-policy" || created.Spec.Replicas == nil || *created.Spec.Replicas != 1337 ||
			created.Annotations["replicas"] != "1337" {
			return fmt.Errorf("not mutated: annotations %v, replicas %v", created.Annotations, created.Spec.Replicas)
		}
		return nil
	})

	// The mutation is stored, and applies to updates too.
	if _, err := deployments.Create(ctx, deployment("web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stored, err := deployments.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *stored.Spec.Replicas != 1337 || stored.Annotations["mutated-by"] != "admission-policy" {
		t.Fatalf("stored %v, %v; want the mutated Deployment", stored, err)
	}
	patched, err := deployments.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{})
	if err != nil || *patched.Spec.Replicas != 1337 {
		t.Fatalf("patched to %v, %v; want the policy's 1337 again", patched.Spec.Replicas, err)
	}

	// Deployments in other namespaces are not the binding's.
	other, err := c.client.AppsV1().Deployments("default").Create(ctx, deployment("plain", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *other.Spec.Replicas != 2 || other.Annotations["mutated-by"] != "" {
		t.Errorf("a Deployment outside the selected namespace was mutated: %v %v", other.Spec.Replicas, other.Annotations)
	}
}

// TestMutatingAdmissionPolicyFailurePolicy: a mutation that fails at run
// time refuses the request under failurePolicy Fail, as a 403 with reason
// Invalid naming the policy and binding; under Ignore the object is
// created unchanged.
func TestMutatingAdmissionPolicyFailurePolicy(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	policies := c.client.AdmissionregistrationV1().MutatingAdmissionPolicies()
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "broken.example.com"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
					},
				}},
			},
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{data: {"n": string(1 / (size(object.metadata.name) - size(object.metadata.name)))}}`}}},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
	if _, err := policies.Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "broken-binding"},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "broken.example.com"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	configMaps := c.client.CoreV1().ConfigMaps("default")
	untilAdmitted(t, "the failure", func() error {
		_, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fails"}}, metav1.CreateOptions{})
		if err == nil {
			_ = configMaps.Delete(ctx, "fails", metav1.DeleteOptions{})
			return fmt.Errorf("created despite the failing policy")
		}
		status, ok := err.(apierrors.APIStatus)
		if !ok || status.Status().Code != 403 || status.Status().Reason != metav1.StatusReasonInvalid ||
			!contains(err.Error(), "policy 'broken.example.com' with binding 'broken-binding' denied request: ") {
			return fmt.Errorf("want the policy's 403 Invalid, got %v", err)
		}
		return nil
	})

	stored, err := policies.Get(ctx, "broken.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ignore := admissionregistrationv1.Ignore
	stored.Spec.FailurePolicy = &ignore
	if _, err := policies.Update(ctx, stored, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	untilAdmitted(t, "failurePolicy Ignore", func() error {
		cm, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ignored"}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if len(cm.Data) != 0 {
			_ = configMaps.Delete(ctx, "ignored", metav1.DeleteOptions{})
			return fmt.Errorf("a failed mutation changed the object: %v", cm.Data)
		}
		return nil
	})
}

// TestMutatingAdmissionPolicyAPI: the kinds are served as the conformance
// test drives them: discovery, generated names, label selection, merge
// patches and updates, delete collection; refused configurations are
// 422s naming the field.
func TestMutatingAdmissionPolicyAPI(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	resources, err := c.client.Discovery().ServerResourcesForGroupVersion(admissionregistrationv1.SchemeGroupVersion.String())
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range resources.APIResources {
		found[r.Name] = true
	}
	if !found["mutatingadmissionpolicies"] || !found["mutatingadmissionpolicybindings"] || found["mutatingadmissionpolicies/status"] {
		t.Errorf("discovery %v: want both kinds, without a status", found)
	}
	out := c.kubectlRun(t, "explain", "mutatingadmissionpolicies.spec.reinvocationPolicy")
	if !contains(out, "reinvocationPolicy") || !contains(out, "MutatingAdmissionPolicy") {
		t.Errorf("kubectl explain mutatingadmissionpolicies.spec.reinvocationPolicy:\n%s", out)
	}

	policies := c.client.AdmissionregistrationV1().MutatingAdmissionPolicies()
	template := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-example-map-", Labels: map[string]string{"e2e": "api"}},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{spec: Object.spec{replicas: 100}}`}}},
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				}}}},
		},
	}
	var names []string
	for range 3 {
		p, err := policies.Create(ctx, template, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregistrationv1.Fail || p.Generation != 1 {
			t.Errorf("created %+v: want failurePolicy Fail and generation 1", p)
		}
		names = append(names, p.Name)
	}
	patched, err := policies.Patch(ctx, names[0], types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"patched":"true"}},"spec":{"reinvocationPolicy":"IfNeeded"}}`), metav1.PatchOptions{})
	if err != nil || patched.Spec.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy || patched.Generation != 2 {
		t.Fatalf("patch: %v, %v", patched, err)
	}
	_, err = policies.Patch(ctx, names[0], types.MergePatchType, []byte(`{"spec":{"reinvocationPolicy":"Always"}}`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) || !contains(err.Error(), "spec.reinvocationPolicy") {
		t.Errorf("an unknown reinvocationPolicy: %v, want 422 naming the field", err)
	}
	bad := template.DeepCopy()
	bad.Spec.Mutations[0].ApplyConfiguration.Expression = `Object{spec: `
	if _, err := policies.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!contains(err.Error(), "spec.mutations[0].applyConfiguration.expression") {
		t.Errorf("an expression that does not compile: %v, want 422 naming it", err)
	}
	if err := policies.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "e2e=api"}); err != nil {
		t.Fatal(err)
	}
	list, err := policies.List(ctx, metav1.ListOptions{LabelSelector: "e2e=api"})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("after delete collection: %v, %v", list, err)
	}

	// A binding needs only the policy's name.
	bindings := c.client.AdmissionregistrationV1().MutatingAdmissionPolicyBindings()
	b, err := bindings.Create(ctx, &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-example-mapb-"},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "replicalimit-policy.example.com"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err = bindings.Patch(ctx, b.Name, types.MergePatchType, []byte(`{"spec":{"policyName":"new-policy.example.com"}}`), metav1.PatchOptions{})
	if err != nil || b.Spec.PolicyName != "new-policy.example.com" {
		t.Fatalf("patch binding: %v, %v", b, err)
	}
}
