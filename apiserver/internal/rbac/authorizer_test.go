package rbac

import (
	"context"
	"errors"
	"reflect"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// fakeLister holds RBAC objects in memory, answering NotFound as a
// client-go lister does.
type fakeLister struct {
	roles               []*rbacv1.Role
	clusterRoles        []*rbacv1.ClusterRole
	roleBindings        []*rbacv1.RoleBinding
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
	// listErr fails every list.
	listErr error
}

func (f *fakeLister) GetRole(namespace, name string) (*rbacv1.Role, error) {
	for _, r := range f.roles {
		if r.Namespace == namespace && r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("role"), name)
}

func (f *fakeLister) GetClusterRole(name string) (*rbacv1.ClusterRole, error) {
	for _, r := range f.clusterRoles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrole"), name)
}

func (f *fakeLister) ListRoleBindings(namespace string) ([]*rbacv1.RoleBinding, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []*rbacv1.RoleBinding
	for _, b := range f.roleBindings {
		if b.Namespace == namespace {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *fakeLister) ListClusterRoleBindings() ([]*rbacv1.ClusterRoleBinding, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	return f.clusterRoleBindings, nil
}

func testRole(namespace, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules}
}

func testClusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func testRoleBinding(namespace, name, kind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects:   subjects,
	}
}

func testClusterRoleBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func saSubject(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

func user(name string, groups ...string) *authn.User {
	return &authn.User{Name: name, Groups: append(groups, authn.AllAuthenticated)}
}

func as(u *authn.User, a authz.Attributes) authz.Attributes {
	a.User = u
	return a
}

// testPolicy: alice reads pods in dev through a Role; devs edit
// deployments everywhere; the ci builder service account is bound in ci
// without naming its namespace; ops get /metrics; a binding refers to a
// ClusterRole that does not exist.
func testPolicy() *fakeLister {
	return &fakeLister{
		roles: []*rbacv1.Role{
			testRole("dev", "pod-reader", newRule("get", "list").groups("").resources("pods").rule()),
		},
		clusterRoles: []*rbacv1.ClusterRole{
			testClusterRole("deployer", newRule("*").groups("apps").resources("deployments").rule()),
			testClusterRole("secret-reader", newRule("get").groups("").resources("secrets").rule()),
			testClusterRole("metrics", newRule("get").urls("/metrics").rule()),
			testClusterRole("node-reader", newRule("get", "list").groups("").resources("nodes").rule()),
		},
		roleBindings: []*rbacv1.RoleBinding{
			testRoleBinding("dev", "alice-reads-pods", "Role", "pod-reader", userSubject("alice")),
			testRoleBinding("ci", "builder-secrets", "ClusterRole", "secret-reader", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "builder"}),
			testRoleBinding("dev", "carol-nodes", "ClusterRole", "node-reader", userSubject("carol")),
		},
		clusterRoleBindings: []*rbacv1.ClusterRoleBinding{
			testClusterRoleBinding("devs-deploy", "deployer", groupSubject("devs")),
			testClusterRoleBinding("ops-metrics", "metrics", userSubject("nobody"), groupSubject("ops")),
			testClusterRoleBinding("sa-secrets", "secret-reader", saSubject("kube-system", "reader")),
			testClusterRoleBinding("dangling", "missing", groupSubject(authn.AllAuthenticated)),
		},
	}
}

func TestAuthorize(t *testing.T) {
	const missing = `RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found`
	alice, bob, carol := user("alice"), user("bob", "devs"), user("carol")
	tests := []struct {
		name   string
		attrs  authz.Attributes
		allow  bool
		reason string
	}{
		{"role in its namespace allows", as(alice, res("list", "", "pods", "", "dev", "")), true,
			`RBAC: allowed by RoleBinding "alice-reads-pods/dev" of Role "pod-reader" to User "alice"`},
		{"role does not allow elsewhere", as(alice, res("list", "", "pods", "", "prod", "")), false, missing},
		{"role does not allow cluster-wide", as(alice, res("list", "", "pods", "", "", "")), false, missing},
		{"role does not allow other verbs", as(alice, res("delete", "", "pods", "", "dev", "p")), false, missing},
		{"group through a ClusterRoleBinding, any namespace", as(bob, res("create", "apps", "deployments", "", "prod", "")), true,
			`RBAC: allowed by ClusterRoleBinding "devs-deploy" of ClusterRole "deployer" to Group "devs"`},
		{"group through a ClusterRoleBinding, cluster-wide", as(bob, res("list", "apps", "deployments", "", "", "")), true,
			`RBAC: allowed by ClusterRoleBinding "devs-deploy" of ClusterRole "deployer" to Group "devs"`},
		{"ClusterRole bound in a namespace allows there", as(carol, res("get", "", "nodes", "", "dev", "n")), true,
			`RBAC: allowed by RoleBinding "carol-nodes/dev" of ClusterRole "node-reader" to User "carol"`},
		{"ClusterRole bound in a namespace does not allow cluster-wide", as(carol, res("get", "", "nodes", "", "", "n")), false, missing},
		{"service account named with its namespace", as(user("system:serviceaccount:kube-system:reader", "system:serviceaccounts"), res("get", "", "secrets", "", "default", "s")), true,
			`RBAC: allowed by ClusterRoleBinding "sa-secrets" of ClusterRole "secret-reader" to ServiceAccount "reader/kube-system"`},
		{"service account of another namespace", as(user("system:serviceaccount:default:reader"), res("get", "", "secrets", "", "default", "s")), false, missing},
		{"service account name is matched whole", as(user("system:serviceaccount:kube-system:reader2"), res("get", "", "secrets", "", "default", "s")), false, missing},
		{"service account without namespace is the binding's", as(user("system:serviceaccount:ci:builder"), res("get", "", "secrets", "", "ci", "s")), true,
			`RBAC: allowed by RoleBinding "builder-secrets/ci" of ClusterRole "secret-reader" to ServiceAccount "builder/ci"`},
		{"a user named like the service account is not it", as(user("builder"), res("get", "", "secrets", "", "ci", "s")), false, missing},
		{"non-resource URL", as(user("dave", "ops"), nonRes("get", "/metrics")), true,
			`RBAC: allowed by ClusterRoleBinding "ops-metrics" of ClusterRole "metrics" to Group "ops"`},
		{"non-resource URL other verb", as(user("dave", "ops"), nonRes("post", "/metrics")), false, missing},
		{"unauthenticated user is in no binding", as(&authn.User{Name: authn.Anonymous, Groups: []string{authn.AllUnauthenticated}}, nonRes("get", "/metrics")), false, ""},
		{"no user", res("get", "", "pods", "", "dev", "p"), false, ""},
	}
	a := New(testPolicy())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			want := authz.DecisionNoOpinion
			if tt.allow {
				want = authz.DecisionAllow
			}
			if d != want || reason != tt.reason {
				t.Errorf("got %v %q, want %v %q", d, reason, want, tt.reason)
			}
		})
	}
}

func TestAuthorizeErrors(t *testing.T) {
	l := testPolicy()
	// A second broken binding: both errors are reported, in order.
	l.roleBindings = append(l.roleBindings, testRoleBinding("dev", "gone", "Role", "gone", groupSubject(authn.AllAuthenticated)))
	d, reason, err := New(l).Authorize(context.Background(), as(user("eve"), res("get", "", "pods", "", "dev", "p")))
	want := `RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "gone" not found]`
	if err != nil || d != authz.DecisionNoOpinion || reason != want {
		t.Errorf("got %v %q %v, want NoOpinion %q", d, reason, err, want)
	}

	// A binding to a missing role does not keep another from allowing.
	d, _, _ = New(l).Authorize(context.Background(), as(user("alice"), res("get", "", "pods", "", "dev", "p")))
	if d != authz.DecisionAllow {
		t.Errorf("alice should still read pods, got %v", d)
	}

	// Failing lists decide nothing and say why, once: upstream's
	// aggregate drops repeated messages.
	l.listErr = errors.New("etcd is down")
	d, reason, err = New(l).Authorize(context.Background(), as(user("alice"), res("get", "", "pods", "", "dev", "p")))
	if err != nil || d != authz.DecisionNoOpinion || reason != "RBAC: etcd is down" {
		t.Errorf("got %v %q %v", d, reason, err)
	}
}

func TestAuthorizeRoleRefKinds(t *testing.T) {
	l := &fakeLister{
		clusterRoles: []*rbacv1.ClusterRole{testClusterRole("all", newRule("*").groups("*").resources("*").rule())},
		clusterRoleBindings: []*rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "odd"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "all"},
			Subjects:   []rbacv1.Subject{userSubject("alice"), {Kind: "Robot", Name: "alice"}},
		}},
	}
	d, reason, _ := New(l).Authorize(context.Background(), as(user("alice"), res("get", "", "pods", "", "", "")))
	if d != authz.DecisionNoOpinion || reason != `RBAC: role.rbac.authorization.k8s.io "all" not found` {
		t.Errorf("a ClusterRoleBinding of a Role finds no role: got %v %q", d, reason)
	}
}

func TestRulesFor(t *testing.T) {
	a := New(testPolicy())
	rules, errs := a.RulesFor(user("alice", "devs"), "dev")
	want := []rbacv1.PolicyRule{
		newRule("*").groups("apps").resources("deployments").rule(),
		newRule("get", "list").groups("").resources("pods").rule(),
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("rules = %v, want %v", rules, want)
	}
	if len(errs) != 1 || errs[0].Error() != `clusterrole.rbac.authorization.k8s.io "missing" not found` {
		t.Errorf("errs = %v", errs)
	}

	rules, _ = a.RulesFor(user("alice", "devs"), "")
	if !reflect.DeepEqual(rules, want[:1]) {
		t.Errorf("cluster-wide rules = %v, want only the ClusterRoleBinding's", rules)
	}

	status := RulesReviewStatus(append(rules, newRule("get").urls("/metrics").rule()), errs)
	wantStatus := authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}},
		NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}},
		EvaluationError:  `clusterrole.rbac.authorization.k8s.io "missing" not found`,
	}
	if !reflect.DeepEqual(status, wantStatus) {
		t.Errorf("status = %+v, want %+v", status, wantStatus)
	}
	if s := RulesReviewStatus(nil, nil); s.ResourceRules == nil || s.NonResourceRules == nil || s.EvaluationError != "" || s.Incomplete {
		t.Errorf("empty status = %+v, want empty lists", s)
	}
}
