package integration

import (
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/controller-manager/internal/controller/clusterroleaggregation"
)

// An aggregated ClusterRole holds the rules of the roles its selectors
// match, in Kubernetes' order, and follows them as they are added,
// changed, relabelled and deleted.
func TestClusterRoleAggregation(t *testing.T) {
	e := start(t, withControllers(clusterroleaggregation.Name))
	ctx := e.ctx()
	roles := e.client.RbacV1().ClusterRoles()
	create := func(r *rbacv1.ClusterRole) {
		t.Helper()
		if _, err := roles.Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create clusterrole %s: %v", r.Name, err)
		}
	}
	rule := func(verb, resource string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Verbs: []string{verb}, Resources: []string{resource}}
	}
	labelled := func(name, value string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"example.com/aggregate-to-tools": value}}, Rules: rules}
	}
	waitRules := func(what string, want ...rbacv1.PolicyRule) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() (bool, error) {
			r, err := roles.Get(ctx, "tools", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return equality.Semantic.DeepEqual(r.Rules, want), fmt.Errorf("rules %+v", r.Rules)
		})
	}

	create(labelled("tools-saw", "true", rule("saw", "boards")))
	create(labelled("tools-hammer", "true", rule("hammer", "nails"), rule("get", "pods")))
	create(labelled("tools-chisel", "false", rule("chisel", "mortises")))
	create(&rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "tools"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"example.com/aggregate-to-tools": "true"}},
		}},
		// Whatever the role was created with is replaced.
		Rules: []rbacv1.PolicyRule{rule("*", "*")},
	})
	waitRules("the matching roles' rules, by role name", rule("hammer", "nails"), rule("get", "pods"), rule("saw", "boards"))

	t.Run("a role that comes to match adds its rules", func(t *testing.T) {
		r, err := roles.Get(ctx, "tools-chisel", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.Labels["example.com/aggregate-to-tools"] = "true"
		if _, err := roles.Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRules("the relabelled role's rules", rule("chisel", "mortises"), rule("hammer", "nails"), rule("get", "pods"), rule("saw", "boards"))
	})
	t.Run("a rule held twice is aggregated once", func(t *testing.T) {
		create(labelled("tools-viewer", "true", rule("get", "pods"), rule("list", "pods")))
		waitRules("the new rule only", rule("chisel", "mortises"), rule("hammer", "nails"), rule("get", "pods"), rule("saw", "boards"), rule("list", "pods"))
	})
	t.Run("a changed role's rules are followed", func(t *testing.T) {
		r, err := roles.Get(ctx, "tools-saw", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.Rules = []rbacv1.PolicyRule{rule("saw", "planks")}
		if _, err := roles.Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRules("the changed rule", rule("chisel", "mortises"), rule("hammer", "nails"), rule("get", "pods"), rule("saw", "planks"), rule("list", "pods"))
	})
	t.Run("a deleted role's rules go", func(t *testing.T) {
		if err := roles.Delete(ctx, "tools-hammer", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRules("without the deleted role's rules", rule("chisel", "mortises"), rule("saw", "planks"), rule("get", "pods"), rule("list", "pods"))
	})
	t.Run("rules written by hand are put back", func(t *testing.T) {
		r, err := roles.Get(ctx, "tools", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.Rules = append(r.Rules, rule("*", "secrets"))
		if _, err := roles.Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRules("the aggregated rules again", rule("chisel", "mortises"), rule("saw", "planks"), rule("get", "pods"), rule("list", "pods"))
	})
}
