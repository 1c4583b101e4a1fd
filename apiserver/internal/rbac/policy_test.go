package rbac

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
	kindsrbac "coracle.dev/apiserver/internal/kinds/rbac"
)

// policyLister serves a Policy to the authorizer.
func policyLister(policies ...Policy) *fakeLister {
	l := &fakeLister{}
	for _, p := range policies {
		for i := range p.ClusterRoles {
			l.clusterRoles = append(l.clusterRoles, &p.ClusterRoles[i])
		}
		for i := range p.ClusterRoleBindings {
			l.clusterRoleBindings = append(l.clusterRoleBindings, &p.ClusterRoleBindings[i])
		}
		for i := range p.Roles {
			l.roles = append(l.roles, &p.Roles[i])
		}
		for i := range p.RoleBindings {
			l.roleBindings = append(l.roleBindings, &p.RoleBindings[i])
		}
	}
	return l
}

func findClusterRole(t *testing.T, p Policy, name string) rbacv1.ClusterRole {
	t.Helper()
	for _, r := range p.ClusterRoles {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no ClusterRole %q", name)
	return rbacv1.ClusterRole{}
}

func TestBootstrapRoles(t *testing.T) {
	p := Bootstrap()
	for _, name := range []string{
		"cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery", "system:public-info-viewer",
		"system:node-bootstrapper", "system:kube-scheduler", "system:kube-controller-manager", "system:node-proxier",
		"system:auth-delegator", "system:node", "system:monitoring",
		"system:controller:replicaset-controller", "system:controller:clusterrole-aggregation-controller",
	} {
		findClusterRole(t, p, name)
	}

	// What the roles grant, through the authorizer, with each role bound
	// to a user of its name in namespace ns.
	type check struct {
		role  string
		attrs authz.Attributes
		allow bool
	}
	checks := []check{
		{"cluster-admin", res("delete", "anything.example.com", "widgets", "", "", "w"), true},
		{"cluster-admin", nonRes("post", "/any/path"), true},
		{"view", res("list", "", "pods", "", "ns", ""), true},
		{"view", res("get", "", "pods", "log", "ns", "p"), true},
		{"view", res("get", "", "secrets", "", "ns", "s"), false},
		{"view", res("list", "", "secrets", "", "ns", ""), false},
		{"view", res("create", "", "pods", "", "ns", ""), false},
		{"edit", res("create", "apps", "deployments", "", "ns", ""), true},
		{"edit", res("patch", "apps", "deployments", "scale", "ns", "d"), true},
		{"edit", res("get", "", "secrets", "", "ns", "s"), true},
		{"edit", res("list", "", "pods", "", "ns", ""), true},
		{"edit", res("create", rbacv1.GroupName, "rolebindings", "", "ns", ""), false},
		{"edit", res("update", "", "pods", "status", "ns", "p"), false},
		{"edit", res("update", "", "resourcequotas", "", "ns", "q"), false},
		{"admin", res("create", rbacv1.GroupName, "rolebindings", "", "ns", ""), true},
		{"admin", res("delete", "apps", "deployments", "", "ns", "d"), true},
		{"admin", res("create", rbacv1.GroupName, "clusterrolebindings", "", "", ""), false},
		{"system:node-proxier", res("list", "discovery.k8s.io", "endpointslices", "", "", ""), true},
		{"system:node-proxier", res("watch", "", "services", "", "", ""), true},
		{"system:node-proxier", res("get", "", "nodes", "", "", "n"), true},
		{"system:node-proxier", res("list", "", "secrets", "", "", ""), false},
		{"system:kube-scheduler", res("create", "", "pods", "binding", "ns", "p"), true},
		{"system:kube-scheduler", res("update", "coordination.k8s.io", "leases", "", "kube-system", "kube-scheduler"), true},
		{"system:kube-scheduler", res("update", "coordination.k8s.io", "leases", "", "kube-system", "kube-controller-manager"), false},
		{"system:kube-controller-manager", res("watch", "apps", "deployments", "", "", ""), true},
		{"system:kube-controller-manager", res("create", "", "serviceaccounts", "token", "kube-system", "x"), true},
		{"system:node-bootstrapper", res("create", "certificates.k8s.io", "certificatesigningrequests", "", "", ""), true},
		{"system:node-bootstrapper", res("get", "", "nodes", "", "", "n"), false},
		{"system:basic-user", res("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{"system:discovery", nonRes("get", "/apis/apps/v1"), true},
		{"system:public-info-viewer", nonRes("get", "/version"), true},
		{"system:public-info-viewer", nonRes("get", "/api"), false},
		{"system:auth-delegator", res("create", "authentication.k8s.io", "tokenreviews", "", "", ""), true},
		{"system:controller:replicaset-controller", res("create", "", "pods", "", "ns", ""), true},
		{"system:controller:replicaset-controller", res("update", "apps", "replicasets", "status", "ns", "r"), true},
	}
	for _, c := range checks {
		role := findClusterRole(t, p, c.role)
		a := c.attrs
		if got := RulesAllow(a, role.Rules...); got != c.allow {
			t.Errorf("%s allows %s %s/%s %s: %v, want %v", c.role, a.Verb, a.Resource, a.Subresource, a.Path, got, c.allow)
		}
	}
}

func TestBootstrapBindings(t *testing.T) {
	a := New(policyLister(Bootstrap(), ClusterSetup()))
	anonymous := &authn.User{Name: authn.Anonymous, Groups: []string{authn.AllUnauthenticated}}
	bootstrapper := &authn.User{Name: "system:bootstrap:abcdef", Groups: []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", authn.AllAuthenticated}}
	node := &authn.User{Name: "system:node:n1", Groups: []string{"system:nodes", authn.AllAuthenticated}}
	tests := []struct {
		name  string
		attrs authz.Attributes
		allow bool
	}{
		{"system:masters do anything", as(user("admin", authz.SystemPrivilegedGroup), res("delete", "", "namespaces", "", "", "x")), true},
		{"any user discovers the API", as(user("alice"), nonRes("get", "/apis")), true},
		{"any user reviews itself", as(user("alice"), res("create", "authorization.k8s.io", "selfsubjectrulesreviews", "", "", "")), true},
		{"any user may not list pods", as(user("alice"), res("list", "", "pods", "", "default", "")), false},
		{"anonymous reads /healthz", as(anonymous, nonRes("get", "/healthz")), true},
		{"anonymous may not discover", as(anonymous, nonRes("get", "/api")), false},
		{"anonymous reads cluster-info", as(anonymous, res("get", "", "configmaps", "", "kube-public", "cluster-info")), true},
		{"anonymous may not read other kube-public configmaps", as(anonymous, res("get", "", "configmaps", "", "kube-public", "other")), false},
		{"bootstrap token asks for a certificate", as(bootstrapper, res("create", "certificates.k8s.io", "certificatesigningrequests", "", "", "")), true},
		{"bootstrap token's CSR may be auto-approved", as(bootstrapper, res("create", "certificates.k8s.io", "certificatesigningrequests", "nodeclient", "", "")), true},
		{"bootstrap token gets nodes", as(bootstrapper, res("get", "", "nodes", "", "", "n1")), true},
		{"bootstrap token may not list secrets", as(bootstrapper, res("list", "", "secrets", "", "kube-system", "")), false},
		{"node renews its certificate", as(node, res("create", "certificates.k8s.io", "certificatesigningrequests", "selfnodeclient", "", "")), true},
		{"node runs kube-proxy", as(node, res("watch", "discovery.k8s.io", "endpointslices", "", "", "")), true},
		{"system:node has no subjects", as(node, res("get", "", "secrets", "", "default", "s")), false},
		{"kube-proxy", as(user("system:kube-proxy"), res("list", "", "services", "", "", "")), true},
		{"scheduler binds pods", as(user("system:kube-scheduler"), res("create", "", "pods", "binding", "default", "p")), true},
		{"scheduler leader election in kube-system", as(user("system:kube-scheduler"), res("create", "coordination.k8s.io", "leases", "", "kube-system", "")), true},
		{"controller-manager lists everything", as(user("system:kube-controller-manager"), res("list", "apps", "replicasets", "", "", "")), true},
		{"a controller's service account", as(user("system:serviceaccount:kube-system:deployment-controller"), res("create", "apps", "replicasets", "", "default", "")), true},
		{"the controller's account of another namespace", as(user("system:serviceaccount:default:deployment-controller"), res("create", "apps", "replicasets", "", "default", "")), false},
		{"service accounts read the issuer discovery", as(user("system:serviceaccount:default:x", "system:serviceaccounts"), nonRes("get", "/openid/v1/jwks")), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got := d == authz.DecisionAllow; got != tt.allow {
				t.Errorf("allowed = %v (%s), want %v", got, reason, tt.allow)
			}
		})
	}
}

func TestBootstrapMetadata(t *testing.T) {
	p := Bootstrap()
	check := func(kind, name string, labels, annotations map[string]string) {
		if labels["kubernetes.io/bootstrapping"] != "rbac-defaults" || annotations[rbacv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("%s %s: labels %v annotations %v", kind, name, labels, annotations)
		}
	}
	names := map[string]bool{}
	for _, r := range p.ClusterRoles {
		check("ClusterRole", r.Name, r.Labels, r.Annotations)
		if names[r.Name] {
			t.Errorf("ClusterRole %s twice", r.Name)
		}
		names[r.Name] = true
	}
	for _, b := range p.ClusterRoleBindings {
		check("ClusterRoleBinding", b.Name, b.Labels, b.Annotations)
		if !names[b.RoleRef.Name] {
			t.Errorf("ClusterRoleBinding %s binds unknown %s", b.Name, b.RoleRef.Name)
		}
	}
	roles := map[string]bool{}
	for _, r := range p.Roles {
		check("Role", r.Name, r.Labels, r.Annotations)
		if !strings.HasPrefix(r.Namespace, "kube-") {
			t.Errorf("Role %s in %q", r.Name, r.Namespace)
		}
		roles[r.Namespace+"/"+r.Name] = true
	}
	for _, b := range p.RoleBindings {
		check("RoleBinding", b.Name, b.Labels, b.Annotations)
		if !roles[b.Namespace+"/"+b.RoleRef.Name] {
			t.Errorf("RoleBinding %s/%s binds unknown %s", b.Namespace, b.Name, b.RoleRef.Name)
		}
	}
	for _, name := range []string{"admin", "edit", "view"} {
		r := findClusterRole(t, p, name)
		if r.AggregationRule == nil || len(r.Rules) == 0 {
			t.Errorf("%s: aggregationRule %v, %d rules", name, r.AggregationRule, len(r.Rules))
		}
	}
	if l := findClusterRole(t, p, "edit").Labels[aggregateToAdmin]; l != "true" {
		t.Errorf("edit is not aggregated into admin")
	}
	if l := findClusterRole(t, p, "view").Labels[aggregateToEdit]; l != "true" {
		t.Errorf("view is not aggregated into edit")
	}
}

// TestAggregatedRules: view gathers system:aggregate-to-view; edit
// gathers system:aggregate-to-edit then view (name order); admin edit
// then system:aggregate-to-admin; each rule once.
func TestAggregatedRules(t *testing.T) {
	p := Bootstrap()
	rules := func(name string) []rbacv1.PolicyRule { return findClusterRole(t, p, name).Rules }
	var edit []rbacv1.PolicyRule
	for _, r := range append(rules("system:aggregate-to-edit"), rules("view")...) {
		if !containsRule(edit, r) {
			edit = append(edit, r)
		}
	}
	var admin []rbacv1.PolicyRule
	for _, r := range append(edit, rules("system:aggregate-to-admin")...) {
		if !containsRule(admin, r) {
			admin = append(admin, r)
		}
	}
	for _, tt := range []struct {
		name string
		want []rbacv1.PolicyRule
	}{{"view", rules("system:aggregate-to-view")}, {"edit", edit}, {"admin", admin}} {
		if !rulesEqual(rules(tt.name), tt.want) {
			t.Errorf("%s rules:\n got %v\nwant %v", tt.name, rules(tt.name), tt.want)
		}
	}
}

// TestPoliciesAreValid puts every object of both policies through the
// kinds' validation, as the apiserver will when it writes them.
func TestPoliciesAreValid(t *testing.T) {
	validate := func(d *apiresource.Descriptor, obj runtime.Object) {
		t.Helper()
		m, _ := meta.Accessor(obj)
		for _, msg := range d.NameValidator(m.GetName(), false) {
			t.Errorf("%s %s: name: %s", d.Kind, m.GetName(), msg)
		}
		d.Strategy.Default(obj)
		if errs := d.Strategy.Validate(obj); len(errs) > 0 {
			t.Errorf("%s %s: %v", d.Kind, m.GetName(), errs)
		}
	}
	for _, p := range []Policy{Bootstrap(), ClusterSetup()} {
		for i := range p.ClusterRoles {
			validate(kindsrbac.ClusterRoles(), &p.ClusterRoles[i])
		}
		for i := range p.Roles {
			validate(kindsrbac.Roles(), &p.Roles[i])
		}
		for i := range p.ClusterRoleBindings {
			validate(kindsrbac.ClusterRoleBindings(), &p.ClusterRoleBindings[i])
		}
		for i := range p.RoleBindings {
			validate(kindsrbac.RoleBindings(), &p.RoleBindings[i])
		}
	}
}

func TestClusterSetup(t *testing.T) {
	p := ClusterSetup()
	for _, b := range p.ClusterRoleBindings {
		if b.Labels != nil || b.Annotations != nil {
			t.Errorf("%s carries the defaults' metadata", b.Name)
		}
	}
	want := map[string]string{
		"kubeadm:kubelet-bootstrap":                     "system:node-bootstrapper",
		"kubeadm:node-autoapprove-bootstrap":            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
		"kubeadm:node-autoapprove-certificate-rotation": "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
		"kubeadm:get-nodes":                             "kubeadm:get-nodes",
		"coracle:node-proxier":                          "system:node-proxier",
		"coracle:service-lb":                            "coracle:service-lb",
	}
	if len(p.ClusterRoleBindings) != len(want) {
		t.Errorf("%d bindings, want %d", len(p.ClusterRoleBindings), len(want))
	}
	for _, b := range p.ClusterRoleBindings {
		if want[b.Name] != b.RoleRef.Name {
			t.Errorf("%s binds %s, want %s", b.Name, b.RoleRef.Name, want[b.Name])
		}
	}
}
