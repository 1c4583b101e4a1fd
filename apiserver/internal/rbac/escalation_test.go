package rbac

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/genericstore"
)

// EscalationCheck is an admitter of creates and updates of the stores.
var (
	_ genericstore.Admitter       = EscalationCheck{}
	_ genericstore.UpdateAdmitter = EscalationCheck{}
)

// escalationPolicy: alice reads pods in dev; the role-admin may escalate
// roles in dev; the binder may bind the ClusterRole view in dev; the
// root holds everything through a ClusterRoleBinding (not
// system:masters).
func escalationPolicy() *fakeLister {
	return &fakeLister{
		roles: []*rbacv1.Role{
			testRole("dev", "pod-reader", newRule("get", "list").groups("").resources("pods").rule()),
		},
		clusterRoles: []*rbacv1.ClusterRole{
			testClusterRole("view", newRule("get", "list", "watch").groups("").resources("pods", "configmaps").rule()),
			testClusterRole("escalate-roles", newRule("escalate").groups(rbacv1.GroupName).resources("roles").rule()),
			testClusterRole("bind-view", newRule("bind").groups(rbacv1.GroupName).resources("clusterroles").names("view").rule()),
			testClusterRole("everything", newRule("*").groups("*").resources("*").rule(), newRule("*").urls("*").rule()),
		},
		roleBindings: []*rbacv1.RoleBinding{
			testRoleBinding("dev", "alice", "Role", "pod-reader", userSubject("alice")),
			testRoleBinding("dev", "role-admin", "ClusterRole", "escalate-roles", userSubject("role-admin")),
			testRoleBinding("dev", "binder", "ClusterRole", "bind-view", userSubject("binder")),
		},
		clusterRoleBindings: []*rbacv1.ClusterRoleBinding{
			testClusterRoleBinding("root", "everything", userSubject("root")),
		},
	}
}

func newEscalationCheck() EscalationCheck {
	a := New(escalationPolicy())
	return EscalationCheck{Authorizer: a, Rules: a}
}

func ctxAs(u *authn.User) context.Context { return authn.WithUser(context.Background(), u) }

func TestEscalationCreate(t *testing.T) {
	podRules := func(verbs ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{newRule(verbs...).groups("").resources("pods").rule()}
	}
	devRole := func(rules []rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "r"}, Rules: rules}
	}
	tests := []struct {
		name string
		user *authn.User
		obj  runtime.Object
		// err is the whole message of the expected 403; "" means allowed.
		err string
	}{
		{"role with rules held", user("alice"), devRole(podRules("get")), ""},
		{"role with every rule held", user("alice"), devRole(podRules("get", "list")), ""},
		{"role with a rule not held", user("alice"), devRole(podRules("get", "delete")),
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`},
		{"missing verbs of one resource are compacted, lines sorted", user("alice"), devRole([]rbacv1.PolicyRule{
			newRule("create", "delete").groups("").resources("pods").rule(),
			newRule("get").groups("").resources("configmaps").names("c").rule(),
		}),
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["configmaps"], ResourceNames:["c"], Verbs:["get"]}` + "\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["create" "delete"]}`},
		{"rules held in dev are not held in prod", user("alice"), &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "r"}, Rules: podRules("get")},
			`roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`},
		{"rules held in a namespace are not held cluster-wide", user("alice"), &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "cr"}, Rules: podRules("get")},
			`clusterroles.rbac.authorization.k8s.io "cr" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`},
		{"non-resource rule not held", user("alice"), &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "cr"}, Rules: []rbacv1.PolicyRule{newRule("get").urls("/metrics").rule()}},
			`clusterroles.rbac.authorization.k8s.io "cr" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{NonResourceURLs:["/metrics"], Verbs:["get"]}`},
		{"escalate allows any rules in its namespace", user("role-admin"), devRole([]rbacv1.PolicyRule{newRule("*").groups("*").resources("*").rule()}), ""},
		{"system:masters may grant anything", user("admin", authz.SystemPrivilegedGroup), &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "cr"}, Rules: fullAuthority}, ""},
		{"holding everything allows an aggregationRule", user("root"), &rbacv1.ClusterRole{
			ObjectMeta:      metav1.ObjectMeta{Name: "agg"},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}},
		}, ""},
		{"an aggregationRule takes cluster-admin's power", user("alice"), &rbacv1.ClusterRole{
			ObjectMeta:      metav1.ObjectMeta{Name: "agg"},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}},
		}, `clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule`},

		{"binding a role whose rules are held", user("alice"), testRoleBinding("dev", "b", "Role", "pod-reader", userSubject("bob")), ""},
		{"binding a role whose rules are not held", user("alice"), testRoleBinding("dev", "b", "ClusterRole", "view", userSubject("bob")),
			`rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "list" "watch"]}` + "\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["watch"]}`},
		{"bind allows binding the role it names", user("binder"), testRoleBinding("dev", "b", "ClusterRole", "view", userSubject("bob")), ""},
		{"bind in a namespace is not bind in another", user("binder"), testRoleBinding("prod", "b", "ClusterRole", "view", userSubject("bob")),
			`rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "binder" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "list" "watch"]}` + "\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list" "watch"]}`},
		{"bind in a namespace is not bind cluster-wide", user("binder"), testClusterRoleBinding("b", "view", userSubject("bob")),
			`clusterrolebindings.rbac.authorization.k8s.io "b" is forbidden: user "binder" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
				`{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "list" "watch"]}` + "\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list" "watch"]}`},
		{"holding everything allows any ClusterRoleBinding", user("root"), testClusterRoleBinding("b", "everything", userSubject("bob")), ""},
		{"system:masters may bind a role that does not exist", user("admin", authz.SystemPrivilegedGroup), testClusterRoleBinding("b", "nothing", userSubject("bob")), ""},
		{"binding a role that does not exist without bind", user("alice"), testRoleBinding("dev", "b", "Role", "nothing", userSubject("bob")),
			`role.rbac.authorization.k8s.io "nothing" not found`}, // the Lister's NotFound
		{"a roleRef of a wrong kind is left to validation", user("alice"), &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"}}, ""},
		{"other kinds pass", user("alice"), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "c"}}, ""},
	}
	c := newEscalationCheck()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.AdmitCreate(ctxAs(tt.user), tt.obj)
			checkAdmitErr(t, err, tt.err)
		})
	}
}

func checkAdmitErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("allowed, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error\n got %q\nwant %q", err.Error(), want)
	}
	if apierrors.IsNotFound(err) {
		return
	}
	if !apierrors.IsForbidden(err) {
		t.Errorf("error is not a 403: %#v", err)
	}
}

func TestEscalationUpdate(t *testing.T) {
	c := newEscalationCheck()
	old := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "r", UID: "u1", ResourceVersion: "5"},
		Rules: []rbacv1.PolicyRule{newRule("*").groups("*").resources("*").rule()}}

	// Only the garbage collector's fields change: allowed even though the
	// role grants what alice does not hold.
	gc := old.DeepCopy()
	gc.Finalizers = []string{"foregroundDeletion"}
	gc.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "o", UID: "u2"}}
	if err := c.AdmitUpdate(ctxAs(user("alice")), "", gc, old); err != nil {
		t.Errorf("GC-only update refused: %v", err)
	}

	// Any other change checks the rules as they will be.
	labelled := old.DeepCopy()
	labelled.Labels = map[string]string{"a": "b"}
	checkAdmitErr(t, c.AdmitUpdate(ctxAs(user("alice")), "", labelled, old),
		`roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`+"\n"+
			`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`)
	narrowed := old.DeepCopy()
	narrowed.Rules = []rbacv1.PolicyRule{newRule("get").groups("").resources("pods").rule()}
	if err := c.AdmitUpdate(ctxAs(user("alice")), "", narrowed, old); err != nil {
		t.Errorf("narrowing to held rules refused: %v", err)
	}

	// Dropping an aggregationRule takes cluster-admin's power too.
	agg := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "agg"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}}}
	dropped := agg.DeepCopy()
	dropped.AggregationRule = nil
	checkAdmitErr(t, c.AdmitUpdate(ctxAs(user("alice")), "", dropped, agg),
		`clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule`)
	if err := c.AdmitUpdate(ctxAs(user("root")), "", dropped, agg); err != nil {
		t.Errorf("root refused: %v", err)
	}

	// A binding is checked against its role on update as on create.
	b := testRoleBinding("dev", "b", "ClusterRole", "view", userSubject("bob"))
	more := b.DeepCopy()
	more.Subjects = append(more.Subjects, userSubject("carol"))
	if err := c.AdmitUpdate(ctxAs(user("binder")), "", more, b); err != nil {
		t.Errorf("binder refused: %v", err)
	}
	if err := c.AdmitUpdate(ctxAs(user("alice")), "", more, b); !apierrors.IsForbidden(err) {
		t.Errorf("alice adding a subject to a binding of view: got %v, want 403", err)
	}
}

func TestEscalationEscalateOnUpdateNamesTheRole(t *testing.T) {
	// escalate on one named role only: upstream asks with the name from
	// the URL, which a create (POST) does not have.
	l := escalationPolicy()
	l.clusterRoles = append(l.clusterRoles, testClusterRole("escalate-r", newRule("escalate").groups(rbacv1.GroupName).resources("roles").names("r").rule()))
	l.roleBindings = append(l.roleBindings, testRoleBinding("dev", "named", "ClusterRole", "escalate-r", userSubject("nora")))
	a := New(l)
	c := EscalationCheck{Authorizer: a, Rules: a}
	r := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "r"}, Rules: []rbacv1.PolicyRule{newRule("get").groups("").resources("secrets").rule()}}
	if err := c.AdmitCreate(ctxAs(user("nora")), r); !apierrors.IsForbidden(err) {
		t.Errorf("create: got %v, want 403", err)
	}
	if err := c.AdmitUpdate(ctxAs(user("nora")), "", r, r.DeepCopy()); err != nil {
		t.Errorf("update: %v", err)
	}
}

func TestEscalationWithoutUser(t *testing.T) {
	c := newEscalationCheck()
	err := c.AdmitCreate(context.Background(), testRole("dev", "r", newRule("get").groups("").resources("pods").rule()))
	checkAdmitErr(t, err, `roles.rbac.authorization.k8s.io "r" is forbidden: no user on context`)
}
