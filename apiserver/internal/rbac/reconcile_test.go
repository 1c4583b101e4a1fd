package rbac

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/auth/rbac/validation"
)

func TestReconcileClusterRole(t *testing.T) {
	getPods := newRule("get").groups("").resources("pods").rule()
	listPods := newRule("list").groups("").resources("pods").rule()
	getSecrets := newRule("get").groups("").resources("secrets").rule()
	desired := func() *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: bootstrapMeta("r", "", nil), Rules: []rbacv1.PolicyRule{getPods, listPods}}
	}
	stored := func(mutate func(r *rbacv1.ClusterRole)) *rbacv1.ClusterRole {
		r := desired()
		r.UID, r.ResourceVersion = "u1", "7"
		mutate(r)
		return r
	}
	tests := []struct {
		name     string
		existing *rbacv1.ClusterRole
		update   bool
		want     *rbacv1.ClusterRole
	}{
		{"missing role is created", nil, true, desired()},
		{"up to date", stored(func(*rbacv1.ClusterRole) {}), false, nil},
		{"rules covered in another shape are up to date", stored(func(r *rbacv1.ClusterRole) {
			r.Rules = []rbacv1.PolicyRule{newRule("get", "list").groups("").resources("pods").rule()}
		}), false, nil},
		{"missing rule is added, a user's rule kept", stored(func(r *rbacv1.ClusterRole) {
			r.Rules = []rbacv1.PolicyRule{getSecrets, getPods}
		}), true, stored(func(r *rbacv1.ClusterRole) {
			r.Rules = []rbacv1.PolicyRule{getSecrets, getPods, listPods}
		})},
		{"autoupdate false is left alone", stored(func(r *rbacv1.ClusterRole) {
			r.Annotations[rbacv1.AutoUpdateAnnotationKey] = "false"
			r.Rules = nil
		}), false, nil},
		{"no annotation is reconciled and annotated", stored(func(r *rbacv1.ClusterRole) {
			r.Annotations = nil
		}), true, stored(func(*rbacv1.ClusterRole) {})},
		{"missing label is added, a user's label kept", stored(func(r *rbacv1.ClusterRole) {
			r.Labels = map[string]string{"team": "a"}
		}), true, stored(func(r *rbacv1.ClusterRole) {
			r.Labels = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults", "team": "a"}
		})},
		{"a user's value of a default label is kept", stored(func(r *rbacv1.ClusterRole) {
			r.Labels = map[string]string{"kubernetes.io/bootstrapping": "mine"}
		}), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before *rbacv1.ClusterRole
			if tt.existing != nil {
				before = tt.existing.DeepCopy()
			}
			got, update := ReconcileClusterRole(tt.existing, desired())
			if update != tt.update {
				t.Fatalf("update = %v, want %v", update, tt.update)
			}
			want := tt.want
			if !update {
				want = tt.existing
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n %+v\nwant\n %+v", got, want)
			}
			if tt.existing != nil && !reflect.DeepEqual(tt.existing, before) {
				t.Errorf("existing was changed")
			}
		})
	}
}

func TestReconcileAggregatedClusterRole(t *testing.T) {
	desired := aggregatedRole("admin", aggregateToAdmin, nil)
	desired.Rules = []rbacv1.PolicyRule{newRule("get").groups("").resources("pods").rule()}
	// The aggregation controller gathered more than the defaults: kept.
	existing := desired.DeepCopy()
	existing.Rules = append(existing.Rules, newRule("get").groups("example.com").resources("widgets").rule())
	if _, update := ReconcileClusterRole(existing, &desired); update {
		t.Errorf("aggregated role holding the defaults needs no update")
	}
	// A selector a user added stays, a missing default one is added.
	existing.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"mine": "true"}}}
	got, update := ReconcileClusterRole(existing, &desired)
	if !update || len(got.AggregationRule.ClusterRoleSelectors) != 2 {
		t.Errorf("got %v %+v, want both selectors", update, got.AggregationRule)
	}
}

func TestReconcileRole(t *testing.T) {
	desired := NamespaceRoles()[0]
	existing := desired.DeepCopy()
	existing.Rules = nil
	got, update := ReconcileRole(existing, &desired)
	// Upstream adds the missing rules broken down, one verb each.
	if covered, _ := validation.Covers(got.Rules, desired.Rules); !update || !covered || got.Namespace != desired.Namespace {
		t.Errorf("got %v %+v", update, got)
	}
	if _, update := ReconcileRole(got, &desired); update {
		t.Errorf("reconciled role needs another update")
	}
}

func TestReconcileClusterRoleBinding(t *testing.T) {
	desired := func() *rbacv1.ClusterRoleBinding {
		b := clusterBinding("system:basic-user", groups("system:authenticated"))
		return &b
	}
	stored := func(mutate func(b *rbacv1.ClusterRoleBinding)) *rbacv1.ClusterRoleBinding {
		b := desired()
		b.UID = "u1"
		mutate(b)
		return b
	}
	tests := []struct {
		name     string
		existing *rbacv1.ClusterRoleBinding
		update   bool
		want     *rbacv1.ClusterRoleBinding
	}{
		{"missing binding is created", nil, true, desired()},
		{"up to date", stored(func(*rbacv1.ClusterRoleBinding) {}), false, nil},
		{"missing subject is added, a user's subject kept", stored(func(b *rbacv1.ClusterRoleBinding) {
			b.Subjects = users("alice")
		}), true, stored(func(b *rbacv1.ClusterRoleBinding) {
			b.Subjects = append(users("alice"), groups("system:authenticated")...)
		})},
		{"autoupdate false is left alone", stored(func(b *rbacv1.ClusterRoleBinding) {
			b.Annotations[rbacv1.AutoUpdateAnnotationKey] = "false"
			b.Subjects = nil
		}), false, nil},
		{"another roleRef is replaced by the desired binding", stored(func(b *rbacv1.ClusterRoleBinding) {
			b.RoleRef.Name = "view"
		}), true, desired()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, update := ReconcileClusterRoleBinding(tt.existing, desired())
			if update != tt.update {
				t.Fatalf("update = %v, want %v", update, tt.update)
			}
			want := tt.want
			if !update {
				want = tt.existing
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestReconcileRoleBinding(t *testing.T) {
	desired := NamespaceRoleBindings()[1]
	existing := desired.DeepCopy()
	existing.Subjects = existing.Subjects[:1]
	got, update := ReconcileRoleBinding(existing, &desired)
	if !update || !reflect.DeepEqual(got.Subjects, desired.Subjects) {
		t.Errorf("got %v %+v", update, got.Subjects)
	}
	existing.RoleRef.Name = "other"
	got, update = ReconcileRoleBinding(existing, &desired)
	if !update || got.RoleRef != desired.RoleRef {
		t.Errorf("changed roleRef: got %v %+v", update, got.RoleRef)
	}
}
