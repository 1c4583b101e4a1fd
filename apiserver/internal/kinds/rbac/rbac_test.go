package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func podReader() rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}
}

func newRole() *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "pod-reader"}, Rules: []rbacv1.PolicyRule{podReader()}}
}

func newClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "system:monitoring"},
		Rules: []rbacv1.PolicyRule{
			podReader(),
			{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics", "/healthz/*"}},
		},
	}
}

func TestRoleValidate(t *testing.T) {
	kindstest.Create(t, Roles().Strategy, newRole, []kindstest.Case[*rbacv1.Role]{
		{Name: "valid", Mutate: func(*rbacv1.Role) {}},
		{Name: "no rules is valid", Mutate: func(r *rbacv1.Role) { r.Rules = nil }},
		{Name: "wildcards are valid", Mutate: func(r *rbacv1.Role) {
			r.Rules = []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*", "*/scale"}, ResourceNames: []string{"a"}}}
		}},
		{Name: "verbs required", Mutate: func(r *rbacv1.Role) { r.Rules[0].Verbs = nil },
			Path: "rules[0].verbs", Type: field.ErrorTypeRequired},
		{Name: "apiGroups required", Mutate: func(r *rbacv1.Role) { r.Rules[0].APIGroups = nil },
			Path: "rules[0].apiGroups", Type: field.ErrorTypeRequired},
		{Name: "resources required", Mutate: func(r *rbacv1.Role) { r.Rules[0].Resources = nil },
			Path: "rules[0].resources", Type: field.ErrorTypeRequired},
		{Name: "non-resource URLs not in namespaced rules", Mutate: func(r *rbacv1.Role) {
			r.Rules = []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}}
		}, Path: "rules[0].nonResourceURLs", Type: field.ErrorTypeInvalid},
		{Name: "second rule is checked", Mutate: func(r *rbacv1.Role) {
			r.Rules = append(r.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}})
		},
			Path: "rules[1].verbs", Type: field.ErrorTypeRequired},
	})
}

func TestClusterRoleValidate(t *testing.T) {
	aggregated := func(r *rbacv1.ClusterRole) {
		r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
		}}
	}
	kindstest.Create(t, ClusterRoles().Strategy, newClusterRole, []kindstest.Case[*rbacv1.ClusterRole]{
		{Name: "valid with non-resource URLs", Mutate: func(*rbacv1.ClusterRole) {}},
		{Name: "aggregated is valid", Mutate: aggregated},
		{Name: "non-resource URLs with resources", Mutate: func(r *rbacv1.ClusterRole) { r.Rules[1].Resources = []string{"pods"} },
			Path: "rules[1].nonResourceURLs", Type: field.ErrorTypeInvalid},
		{Name: "non-resource URLs with apiGroups", Mutate: func(r *rbacv1.ClusterRole) { r.Rules[1].APIGroups = []string{""} },
			Path: "rules[1].nonResourceURLs", Type: field.ErrorTypeInvalid},
		{Name: "non-resource URLs need verbs", Mutate: func(r *rbacv1.ClusterRole) { r.Rules[1].Verbs = nil },
			Path: "rules[1].verbs", Type: field.ErrorTypeRequired},
		{Name: "aggregationRule needs a selector", Mutate: func(r *rbacv1.ClusterRole) { r.AggregationRule = &rbacv1.AggregationRule{} },
			Path: "aggregationRule.clusterRoleSelectors", Type: field.ErrorTypeRequired},
		{Name: "aggregationRule selector must be valid", Mutate: func(r *rbacv1.ClusterRole) {
			aggregated(r)
			r.AggregationRule.ClusterRoleSelectors[0].MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}
		}, Path: "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator", Type: field.ErrorTypeInvalid},
		{Name: "aggregationRule label value must be valid", Mutate: func(r *rbacv1.ClusterRole) {
			aggregated(r)
			r.AggregationRule.ClusterRoleSelectors[0].MatchLabels = map[string]string{"a": "not a value"}
		}, Path: "aggregationRule.clusterRoleSelectors[0].matchLabels", Type: field.ErrorTypeInvalid},
	})
}

func newRoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "read-pods"},
		RoleRef:    rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.UserKind, Name: "alice"},
			{Kind: rbacv1.GroupKind, Name: "devs"},
			{Kind: rbacv1.ServiceAccountKind, Name: "builder"},
		},
	}
}

func newClusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:get-nodes"},
		RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "kubeadm:get-nodes"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.GroupKind, Name: "system:bootstrappers"},
			{Kind: rbacv1.ServiceAccountKind, Name: "builder", Namespace: "ci"},
		},
	}
}

func TestBindingDefaults(t *testing.T) {
	b := newRoleBinding()
	RoleBindings().Strategy.Default(b)
	if b.RoleRef.APIGroup != rbacv1.GroupName {
		t.Errorf("roleRef.apiGroup = %q", b.RoleRef.APIGroup)
	}
	for i, want := range []string{rbacv1.GroupName, rbacv1.GroupName, ""} {
		if b.Subjects[i].APIGroup != want {
			t.Errorf("subjects[%d].apiGroup = %q, want %q", i, b.Subjects[i].APIGroup, want)
		}
	}
	if b.Subjects[2].Namespace != "" {
		t.Errorf("a RoleBinding's service account namespace is not defaulted: got %q", b.Subjects[2].Namespace)
	}
	c := newClusterRoleBinding()
	c.Subjects = append(c.Subjects, rbacv1.Subject{Kind: "Robot", Name: "r"})
	ClusterRoleBindings().Strategy.Default(c)
	if c.RoleRef.APIGroup != rbacv1.GroupName || c.Subjects[0].APIGroup != rbacv1.GroupName || c.Subjects[1].APIGroup != "" || c.Subjects[2].APIGroup != "" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestRoleBindingValidate(t *testing.T) {
	kindstest.Create(t, RoleBindings().Strategy, newRoleBinding, []kindstest.Case[*rbacv1.RoleBinding]{
		{Name: "valid", Mutate: func(*rbacv1.RoleBinding) {}},
		{Name: "a ClusterRole may be bound in a namespace", Mutate: func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "ClusterRole" }},
		{Name: "no subjects is valid", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects = nil }},
		{Name: "roleRef of another group", Mutate: func(b *rbacv1.RoleBinding) { b.RoleRef.APIGroup = "example.com" },
			Path: "roleRef.apiGroup", Type: field.ErrorTypeNotSupported},
		{Name: "roleRef of another kind", Mutate: func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "Group" },
			Path: "roleRef.kind", Type: field.ErrorTypeNotSupported},
		{Name: "roleRef name required", Mutate: func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "" },
			Path: "roleRef.name", Type: field.ErrorTypeRequired},
		{Name: "roleRef name must fit a path", Mutate: func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "a/b" },
			Path: "roleRef.name", Type: field.ErrorTypeInvalid},
		{Name: "subject name required", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects[0].Name = "" },
			Path: "subjects[0].name", Type: field.ErrorTypeRequired},
		{Name: "subject kind", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects[1].Kind = "Robot" },
			Path: "subjects[1].kind", Type: field.ErrorTypeNotSupported},
		{Name: "user of another group", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects[0].APIGroup = "example.com" },
			Path: "subjects[0].apiGroup", Type: field.ErrorTypeNotSupported},
		{Name: "service account of a group", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects[2].APIGroup = rbacv1.GroupName },
			Path: "subjects[2].apiGroup", Type: field.ErrorTypeNotSupported},
		{Name: "service account name must be a DNS subdomain", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects[2].Name = "Builder" },
			Path: "subjects[2].name", Type: field.ErrorTypeInvalid},
		{Name: "user names are free", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects[0].Name = "Alice Smith <alice@example.com>" }},
	})
}

func TestClusterRoleBindingValidate(t *testing.T) {
	kindstest.Create(t, ClusterRoleBindings().Strategy, newClusterRoleBinding, []kindstest.Case[*rbacv1.ClusterRoleBinding]{
		{Name: "valid", Mutate: func(*rbacv1.ClusterRoleBinding) {}},
		{Name: "a Role cannot be bound cluster-wide", Mutate: func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Kind = "Role" },
			Path: "roleRef.kind", Type: field.ErrorTypeNotSupported},
		{Name: "service account needs its namespace", Mutate: func(b *rbacv1.ClusterRoleBinding) { b.Subjects[1].Namespace = "" },
			Path: "subjects[1].namespace", Type: field.ErrorTypeRequired},
	})
}

func TestBindingRoleRefImmutable(t *testing.T) {
	kindstest.Update(t, RoleBindings().Strategy, newRoleBinding, "field is immutable", []kindstest.Case[*rbacv1.RoleBinding]{
		{Name: "subjects may change", Mutate: func(b *rbacv1.RoleBinding) { b.Subjects = b.Subjects[:1] }},
		{Name: "roleRef name may not", Mutate: func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "other" },
			Path: "roleRef", Type: field.ErrorTypeInvalid},
		{Name: "roleRef kind may not", Mutate: func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "ClusterRole" },
			Path: "roleRef", Type: field.ErrorTypeInvalid},
	})
	kindstest.Update(t, ClusterRoleBindings().Strategy, newClusterRoleBinding, "field is immutable", []kindstest.Case[*rbacv1.ClusterRoleBinding]{
		{Name: "roleRef name may not change", Mutate: func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Name = "other" },
			Path: "roleRef", Type: field.ErrorTypeInvalid},
		// An empty group is defaulted before the comparison: not a change.
		{Name: "defaulted group is not a change", Mutate: func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.APIGroup = "" }},
	})
}

func TestNames(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"system:node", true},
		{"system::leader-locking-kube-scheduler", true},
		{"Has Spaces and CAPS", true},
		{"a/b", false},
		{"a%b", false},
		{"..", false},
		{".", false},
	}
	for _, d := range All() {
		for _, tt := range tests {
			if got := len(d.NameValidator(tt.name, false)) == 0; got != tt.valid {
				t.Errorf("%s name %q valid = %v, want %v", d.Resource, tt.name, got, tt.valid)
			}
		}
	}
}

func TestDescriptors(t *testing.T) {
	want := map[string]bool{"roles": true, "rolebindings": true, "clusterroles": false, "clusterrolebindings": false}
	for _, d := range All() {
		namespaced, ok := want[d.Resource]
		if !ok || d.Namespaced != namespaced || d.Group != rbacv1.GroupName || d.Version != "v1" {
			t.Errorf("%s: namespaced %v group %s version %s", d.Resource, d.Namespaced, d.Group, d.Version)
		}
		if !d.Strategy.AllowCreateOnUpdate() {
			t.Errorf("%s: PUT must create, as Kubernetes", d.Resource)
		}
		if len(d.ShortNames) != 0 || len(d.Categories) != 0 {
			t.Errorf("%s: Kubernetes has no short names or categories for it", d.Resource)
		}
		delete(want, d.Resource)
	}
	if len(want) != 0 {
		t.Errorf("missing %v", want)
	}
	if Roles().Table != nil || ClusterRoles().Table != nil {
		t.Errorf("roles have Kubernetes' default columns")
	}
	if RoleBindings().Table == nil || ClusterRoleBindings().Table == nil {
		t.Errorf("bindings have columns of their own")
	}
}
