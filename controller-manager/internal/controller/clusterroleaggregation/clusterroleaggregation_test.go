package clusterroleaggregation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecide(t *testing.T) {
	hammer := []rbacv1.PolicyRule{
		{Verbs: []string{"hammer"}, Resources: []string{"nails"}},
		{Verbs: []string{"hammer"}, Resources: []string{"wedges"}},
	}
	chisel := []rbacv1.PolicyRule{{Verbs: []string{"chisel"}, Resources: []string{"mortises"}}}
	saw := []rbacv1.PolicyRule{{Verbs: []string{"saw"}, Resources: []string{"boards"}}}
	role := func(name string, lbls map[string]string, rules ...[]rbacv1.PolicyRule) *rbacv1.ClusterRole {
		r := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
		for _, rs := range rules {
			r.Rules = append(r.Rules, rs...)
		}
		return r
	}
	// combined is the aggregated role, with one selector per label set.
	combined := func(selectors []map[string]string, rules ...[]rbacv1.PolicyRule) *rbacv1.ClusterRole {
		r := role("combined", nil, rules...)
		r.AggregationRule = &rbacv1.AggregationRule{}
		for _, s := range selectors {
			r.AggregationRule.ClusterRoleSelectors = append(r.AggregationRule.ClusterRoleSelectors, metav1.LabelSelector{MatchLabels: s})
		}
		return r
	}
	join := func(rules ...[]rbacv1.PolicyRule) []rbacv1.PolicyRule {
		out := []rbacv1.PolicyRule{}
		for _, rs := range rules {
			out = append(out, rs...)
		}
		return out
	}
	bar := []map[string]string{{"foo": "bar"}}

	tests := []struct {
		name       string
		role       *rbacv1.ClusterRole
		others     []*rbacv1.ClusterRole
		wantUpdate bool
		wantRules  []rbacv1.PolicyRule
		wantErr    bool
	}{
		{
			name:       "rules of roles no longer selected are removed",
			role:       combined(bar, saw),
			others:     []*rbacv1.ClusterRole{role("hammer", map[string]string{"foo": "bar"}, hammer)},
			wantUpdate: true, wantRules: join(hammer),
		},
		{
			name:       "a role that matches no selector contributes nothing",
			role:       combined(bar, hammer),
			others:     []*rbacv1.ClusterRole{role("hammer", map[string]string{"foo": "not-bar"}, hammer)},
			wantUpdate: true, wantRules: join(),
		},
		{
			name: "the roles a selector matches come in name order",
			role: combined(bar),
			others: []*rbacv1.ClusterRole{
				role("hammer", map[string]string{"foo": "bar"}, hammer),
				role("chisel", map[string]string{"foo": "bar"}, chisel),
				role("saw", map[string]string{"foo": "not-bar"}, saw),
			},
			wantUpdate: true, wantRules: join(chisel, hammer),
		},
		{
			name: "selectors come in order, each in name order",
			role: combined([]map[string]string{{"foo": "not-bar"}, {"foo": "bar"}}),
			others: []*rbacv1.ClusterRole{
				role("hammer", map[string]string{"foo": "bar"}, hammer),
				role("chisel", map[string]string{"foo": "bar"}, chisel),
				role("saw", map[string]string{"foo": "not-bar"}, saw),
			},
			wantUpdate: true, wantRules: join(saw, chisel, hammer),
		},
		{
			name: "a rule two roles hold is kept once",
			role: combined([]map[string]string{{"foo": "bar"}, {"foo": "not-bar"}}),
			others: []*rbacv1.ClusterRole{
				role("hammer", map[string]string{"foo": "bar"}, hammer),
				role("chisel", map[string]string{"foo": "bar"}, chisel),
				role("saw", map[string]string{"foo": "bar"}, saw),
				role("other-saw", map[string]string{"foo": "not-bar"}, saw),
			},
			wantUpdate: true, wantRules: join(chisel, hammer, saw),
		},
		{
			name: "a role two selectors match is added once",
			role: combined([]map[string]string{{"foo": "bar"}, {"tool": "hammer"}}),
			others: []*rbacv1.ClusterRole{
				role("hammer", map[string]string{"foo": "bar", "tool": "hammer"}, hammer),
			},
			wantUpdate: true, wantRules: join(hammer),
		},
		{
			name: "the role does not aggregate itself",
			role: func() *rbacv1.ClusterRole {
				r := combined(bar, saw)
				r.Labels = map[string]string{"foo": "bar"}
				return r
			}(),
			others:     []*rbacv1.ClusterRole{role("hammer", map[string]string{"foo": "bar"}, hammer)},
			wantUpdate: true, wantRules: join(hammer),
		},
		{
			name: "an aggregated role feeds another with the rules it holds now",
			role: combined([]map[string]string{{"aggregate-to-admin": "true"}}),
			others: func() []*rbacv1.ClusterRole {
				edit := role("edit", map[string]string{"aggregate-to-admin": "true"}, hammer)
				edit.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"aggregate-to-edit": "true"}}}}
				return []*rbacv1.ClusterRole{edit, role("saw", map[string]string{"aggregate-to-edit": "true"}, saw)}
			}(),
			wantUpdate: true, wantRules: join(hammer),
		},
		{
			name: "match expressions select too",
			role: func() *rbacv1.ClusterRole {
				r := combined(nil)
				r.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tool", Operator: metav1.LabelSelectorOpIn, Values: []string{"saw", "chisel"}},
				}}}
				return r
			}(),
			others: []*rbacv1.ClusterRole{
				role("hammer", map[string]string{"tool": "hammer"}, hammer),
				role("chisel", map[string]string{"tool": "chisel"}, chisel),
				role("saw", map[string]string{"tool": "saw"}, saw),
			},
			wantUpdate: true, wantRules: join(chisel, saw),
		},
		{
			name:      "rules already aggregated are left alone",
			role:      combined(bar, chisel, hammer),
			others:    []*rbacv1.ClusterRole{role("hammer", map[string]string{"foo": "bar"}, hammer), role("chisel", map[string]string{"foo": "bar"}, chisel)},
			wantRules: join(chisel, hammer),
		},
		{
			name:      "no rules to aggregate and none held is no change",
			role:      combined(bar),
			others:    []*rbacv1.ClusterRole{role("saw", nil, saw)},
			wantRules: join(),
		},
		{
			name: "rules in another order are put in order",
			role: combined(bar, hammer, chisel),
			others: []*rbacv1.ClusterRole{
				role("hammer", map[string]string{"foo": "bar"}, hammer),
				role("chisel", map[string]string{"foo": "bar"}, chisel),
			},
			wantUpdate: true, wantRules: join(chisel, hammer),
		},
		{
			name: "an invalid selector is an error",
			role: func() *rbacv1.ClusterRole {
				r := combined(nil, saw)
				r.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tool", Operator: "Near"},
				}}}
				return r
			}(),
			others:  []*rbacv1.ClusterRole{role("saw", map[string]string{"tool": "saw"}, saw)},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := append([]*rbacv1.ClusterRole{tt.role}, tt.others...)
			got, err := Decide(tt.role, all)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Decide = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Update != tt.wantUpdate || !equality.Semantic.DeepEqual(got.Rules, tt.wantRules) {
				t.Errorf("Decide = update %v rules %+v, want update %v rules %+v", got.Update, got.Rules, tt.wantUpdate, tt.wantRules)
			}
		})
	}
}
