package policy

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

type pdb = *policyv1.PodDisruptionBudget

func newPDB() pdb {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func TestPDBValidate(t *testing.T) {
	kindstest.Create(t, PodDisruptionBudgets().Strategy, newPDB, []kindstest.Case[pdb]{
		{Name: "minAvailable as a number is valid", Mutate: func(p pdb) {}},
		{Name: "minAvailable as a percentage is valid", Mutate: func(p pdb) { p.Spec.MinAvailable = ptr.To(intstr.FromString("50%")) }},
		{Name: "maxUnavailable alone is valid", Mutate: func(p pdb) {
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromString("100%"))
		}},
		{Name: "neither bound is valid", Mutate: func(p pdb) { p.Spec.MinAvailable = nil }},
		{Name: "a nil selector is valid", Mutate: func(p pdb) { p.Spec.Selector = nil }},
		{Name: "an empty selector is valid", Mutate: func(p pdb) { p.Spec.Selector = &metav1.LabelSelector{} }},
		{Name: "both policies are valid", Mutate: func(p pdb) { p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow) }},
		{Name: "minAvailable and maxUnavailable exclude each other", Mutate: func(p pdb) {
			p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}, Path: "spec", Type: field.ErrorTypeInvalid},
		{Name: "minAvailable is not negative", Mutate: func(p pdb) { p.Spec.MinAvailable = ptr.To(intstr.FromInt32(-1)) },
			Path: "spec.minAvailable", Type: field.ErrorTypeInvalid},
		{Name: "minAvailable is not above 100%", Mutate: func(p pdb) { p.Spec.MinAvailable = ptr.To(intstr.FromString("101%")) },
			Path: "spec.minAvailable", Type: field.ErrorTypeInvalid},
		{Name: "maxUnavailable is a percentage or a number", Mutate: func(p pdb) {
			p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, ptr.To(intstr.FromString("half"))
		}, Path: "spec.maxUnavailable", Type: field.ErrorTypeInvalid},
		{Name: "selector operators are checked", Mutate: func(p pdb) {
			p.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}, Path: "spec.selector.matchExpressions[0].operator", Type: field.ErrorTypeInvalid},
		{Name: "selector label values are checked", Mutate: func(p pdb) { p.Spec.Selector.MatchLabels["app"] = "not valid!" },
			Path: "spec.selector.matchLabels", Type: field.ErrorTypeInvalid},
		{Name: "unknown unhealthyPodEvictionPolicy", Mutate: func(p pdb) {
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.UnhealthyPodEvictionPolicyType("Sometimes"))
		}, Path: "spec.unhealthyPodEvictionPolicy", Type: field.ErrorTypeNotSupported},
	})
}

func TestPDBValidateUpdate(t *testing.T) {
	kindstest.Update(t, PodDisruptionBudgets().Strategy, newPDB, "", []kindstest.Case[pdb]{
		{Name: "the spec may change", Mutate: func(p pdb) { p.Spec.MinAvailable = ptr.To(intstr.FromInt32(3)) }},
		{Name: "the selector may change", Mutate: func(p pdb) { p.Spec.Selector.MatchLabels = map[string]string{"app": "db"} }},
		{Name: "a new invalid value in an expression is refused", Mutate: func(p pdb) {
			p.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"not valid!"}}}
		}, Path: "spec.selector.matchExpressions[0].values[0]", Type: field.ErrorTypeInvalid},
	})

	// A budget stored with an invalid value in a selector's expression
	// may still be updated.
	s := PodDisruptionBudgets().Strategy
	old := newPDB()
	old.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"not valid!"}}}
	p := old.DeepCopy()
	p.Spec.MinAvailable = ptr.To(intstr.FromInt32(2))
	kindstest.WantErr(t, s.ValidateUpdate(p, old), "", "")
}

func TestPDBStatus(t *testing.T) {
	s := PodDisruptionBudgets().Strategy
	created := newPDB()
	created.Status.DisruptionsAllowed = 5
	created.Status.DisruptedPods = map[string]metav1.Time{"web-1": metav1.Now()}
	s.PrepareForCreate(created)
	if created.Status.DisruptionsAllowed != 0 || created.Status.DisruptedPods != nil {
		t.Errorf("a new budget came with status %+v", created.Status)
	}

	tests := []struct {
		name   string
		mutate func(st *policyv1.PodDisruptionBudgetStatus)
		path   string
		typ    field.ErrorType
	}{
		{"counts and a condition are valid", func(st *policyv1.PodDisruptionBudgetStatus) {
			st.DisruptionsAllowed, st.CurrentHealthy, st.DesiredHealthy, st.ExpectedPods = 1, 3, 2, 3
			st.Conditions = []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
				Reason: policyv1.SufficientPodsReason, LastTransitionTime: metav1.Now()}}
		}, "", ""},
		{"disruptionsAllowed is not negative", func(st *policyv1.PodDisruptionBudgetStatus) { st.DisruptionsAllowed = -1 },
			"status.disruptionsAllowed", field.ErrorTypeInvalid},
		{"expectedPods is not negative", func(st *policyv1.PodDisruptionBudgetStatus) { st.ExpectedPods = -1 },
			"status.expectedPods", field.ErrorTypeInvalid},
		{"conditions have a reason", func(st *policyv1.PodDisruptionBudgetStatus) {
			st.Conditions = []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		}, "status.conditions[0].reason", field.ErrorTypeRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPDB()
			p := old.DeepCopy()
			tt.mutate(&p.Status)
			kindstest.WantErr(t, s.ValidateStatusUpdate(p, old), tt.path, tt.typ)
		})
	}
}
