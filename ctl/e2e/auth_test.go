package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAuth drives RBAC from the command line as a cluster's
// administrator would — roles and bindings made with create, checked
// with auth can-i and whoami under --as — with ctl and with the real
// kubectl, which must print the same. The test server's admin.conf is
// system:masters; alice, bob and the ops group have only what the test
// grants them.
func TestAuth(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	if _, err := c.client.RbacV1().Roles("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("the apiserver does not serve rbac.authorization.k8s.io/v1 roles: %v", err)
	}
	tools := []*cli{ctl(t, c), kubectl(t, c)}

	for _, tool := range tools {
		t.Run(tool.name+" grants alice a role and asks as alice", func(t *testing.T) {
			ns := c.namespace(t)
			tool.says(t, "role.rbac.authorization.k8s.io/pod-reader created",
				"-n", ns, "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods,pods/log,deploy.apps")
			role, err := c.client.RbacV1().Roles(ns).Get(ctx, "pod-reader", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantRules := []rbacv1.PolicyRule{
				{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}},
				{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}},
			}
			if !reflect.DeepEqual(role.Rules, wantRules) {
				t.Fatalf("rules %+v\nwant %+v", role.Rules, wantRules)
			}
			tool.says(t, "rolebinding.rbac.authorization.k8s.io/alice-reads created",
				"-n", ns, "create", "rolebinding", "alice-reads", "--role=pod-reader", "--user=alice")
			rb, err := c.client.RbacV1().RoleBindings(ns).Get(ctx, "alice-reads", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"}); rb.RoleRef != want ||
				!reflect.DeepEqual(rb.Subjects, []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}) {
				t.Fatalf("binding %+v %+v", rb.RoleRef, rb.Subjects)
			}

			// The authorizer reads bindings from its cache: the first
			// "yes" may take a moment.
			eventually(t, "alice may list pods", func() bool {
				r := tool.run(t, "--as", "alice", "auth", "can-i", "list", "pods", "-n", ns)
				return r.code == 0 && r.stdout == "yes\n"
			})
			for _, q := range []struct {
				args []string
				out  string
				code int
			}{
				{[]string{"list", "pods"}, "yes\n", 0},
				{[]string{"delete", "pods"}, "no\n", 1},
				{[]string{"get", "pods/web"}, "yes\n", 0},
				{[]string{"get", "pods", "--subresource=log"}, "yes\n", 0},
				{[]string{"watch", "deployments.apps"}, "yes\n", 0},
				{[]string{"list", "deploy"}, "yes\n", 0},
				{[]string{"update", "deployments.apps", "--subresource=scale"}, "no\n", 1},
				{[]string{"list", "secrets"}, "no\n", 1},
				{[]string{"list", "pods", "-A"}, "no\n", 1},
				{[]string{"delete", "pods", "-q"}, "", 1},
				{[]string{"list", "pods", "-q"}, "", 0},
			} {
				args := append([]string{"--as", "alice", "-n", ns, "auth", "can-i"}, q.args...)
				r := tool.run(t, args...)
				if r.code != q.code || r.stdout != q.out || r.stderr != "" {
					t.Errorf("%s %s: want exit %d and %q; got %s", tool.name, strings.Join(args, " "), q.code, q.out, r)
				}
			}
			// In another namespace alice has nothing.
			r := tool.run(t, "--as", "alice", "auth", "can-i", "list", "pods", "-n", "default")
			if r.code != 1 || r.stdout != "no\n" {
				t.Errorf("in default: %s", r)
			}

			list := parseTable(tool.ok(t, "--as", "alice", "-n", ns, "auth", "can-i", "--list"))
			if want := []string{"Resources", "Non-Resource URLs", "Resource Names", "Verbs"}; !reflect.DeepEqual(list.header, want) {
				t.Fatalf("--list columns %q, want %q", list.header, want)
			}
			for _, res := range []string{"pods", "pods/log", "deployments.apps"} {
				row := list.row("Resources", res)
				if row == nil || row["Verbs"] != "[get list watch]" || row["Resource Names"] != "[]" || row["Non-Resource URLs"] != "[]" {
					t.Errorf("--list row for %s: %v\n%v", res, row, list.rows)
				}
			}
			bare := tool.ok(t, "--as", "alice", "-n", ns, "auth", "can-i", "--list", "--no-headers")
			if strings.Contains(bare, "Resources") || !strings.Contains(bare, "[get list watch]") {
				t.Errorf("--no-headers:\n%s", bare)
			}

			// --as applies to every command, not only to auth.
			tool.ok(t, "--as", "alice", "-n", ns, "get", "pods")
			tool.fails(t, `Error from server (Forbidden): secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "`+ns+`"`,
				"--as", "alice", "-n", ns, "get", "secrets")
		})
	}

	t.Run("whoami", func(t *testing.T) {
		for _, tool := range tools {
			tool.says(t, "ATTRIBUTE   VALUE\nUsername    alice\nGroups      [system:authenticated]", "--as", "alice", "auth", "whoami")
			tool.says(t, "ATTRIBUTE   VALUE\nUsername    alice\nUID         42\nGroups      [devs system:authenticated]",
				"--as", "alice", "--as-group", "devs", "--as-uid", "42", "auth", "whoami")
			var review authenticationv1.SelfSubjectReview
			if err := json.Unmarshal([]byte(tool.ok(t, "--as", "alice", "auth", "whoami", "-o", "json")), &review); err != nil {
				t.Fatalf("%s whoami -o json: %v", tool.name, err)
			}
			if review.Kind != "SelfSubjectReview" || review.APIVersion != "authentication.k8s.io/v1" || review.Status.UserInfo.Username != "alice" {
				t.Errorf("%s whoami -o json: %+v", tool.name, review)
			}
			admin := parseTable(tool.ok(t, "auth", "whoami"))
			if r := admin.row("ATTRIBUTE", "Groups"); r == nil || !strings.Contains(r["VALUE"], "system:masters") {
				t.Errorf("%s: the admin is not in system:masters: %v", tool.name, admin.rows)
			}
		}
	})

	for _, tool := range tools {
		t.Run(tool.name+" cluster roles and bindings", func(t *testing.T) {
			role, binding := "node-reader-"+tool.name, "ops-read-nodes-"+tool.name
			tool.says(t, "clusterrole.rbac.authorization.k8s.io/"+role+" created",
				"create", "clusterrole", role, "--verb=get", "--resource=nodes", "--non-resource-url=/metrics")
			cr, err := c.client.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantRules := []rbacv1.PolicyRule{
				{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}},
				{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}},
			}
			if !reflect.DeepEqual(cr.Rules, wantRules) {
				t.Fatalf("rules %+v\nwant %+v", cr.Rules, wantRules)
			}
			tool.says(t, "clusterrolebinding.rbac.authorization.k8s.io/"+binding+" created",
				"create", "clusterrolebinding", binding, "--clusterrole="+role, "--group=ops")
			eventually(t, "the ops group may get nodes", func() bool {
				r := tool.run(t, "--as", "bob", "--as-group", "ops", "auth", "can-i", "get", "nodes", "-A")
				return r.code == 0 && r.stdout == "yes\n"
			})
			r := tool.run(t, "--as", "bob", "--as-group", "ops", "auth", "can-i", "get", "/metrics")
			if r.code != 0 || r.stdout != "yes\n" {
				t.Errorf("ops get /metrics: %s", r)
			}
			r = tool.run(t, "--as", "bob", "--as-group", "ops", "auth", "can-i", "list", "nodes", "-A")
			if r.code != 1 || r.stdout != "no\n" {
				t.Errorf("ops list nodes: %s", r)
			}
			r = tool.run(t, "--as", "bob", "auth", "can-i", "get", "nodes", "-A")
			if r.code != 1 || r.stdout != "no\n" {
				t.Errorf("bob without ops gets nodes: %s", r)
			}

			agg := "monitoring-" + tool.name
			tool.says(t, "clusterrole.rbac.authorization.k8s.io/"+agg+" created",
				"create", "clusterrole", agg, "--aggregation-rule=rbac.example.com/aggregate-to-monitoring=true")
			cr, err = c.client.RbacV1().ClusterRoles().Get(ctx, agg, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if cr.AggregationRule == nil || len(cr.AggregationRule.ClusterRoleSelectors) != 1 ||
				cr.AggregationRule.ClusterRoleSelectors[0].MatchLabels["rbac.example.com/aggregate-to-monitoring"] != "true" {
				t.Errorf("aggregation rule %+v", cr.AggregationRule)
			}
		})
	}

	for _, tool := range tools {
		t.Run(tool.name+" dry runs and output forms", func(t *testing.T) {
			ns := c.namespace(t)
			tool.says(t, "role.rbac.authorization.k8s.io/dry created (server dry run)", "-n", ns, "create", "role", "dry", "--verb=get", "--resource=pods", "--dry-run=server")
			tool.says(t, "role.rbac.authorization.k8s.io/dry", "-n", ns, "create", "role", "dry", "--verb=get", "--resource=pods", "--dry-run=client", "-o", "name")
			y := tool.ok(t, "-n", ns, "create", "rolebinding", "dry", "--clusterrole=view", "--serviceaccount="+ns+":app", "--dry-run=server", "-o", "yaml")
			for _, want := range []string{"kind: RoleBinding", "kind: ClusterRole", "name: view", "kind: ServiceAccount", "namespace: " + ns} {
				if !strings.Contains(y, want) {
					t.Errorf("rolebinding -o yaml lacks %q:\n%s", want, y)
				}
			}
			if _, err := c.client.RbacV1().Roles(ns).Get(ctx, "dry", metav1.GetOptions{}); err == nil {
				t.Error("a dry run created the role")
			}
			if _, err := c.client.RbacV1().RoleBindings(ns).Get(ctx, "dry", metav1.GetOptions{}); err == nil {
				t.Error("a dry run created the rolebinding")
			}
			tool.says(t, "serviceaccount/robot created", "-n", ns, "create", "serviceaccount", "robot")
			// A binding to a role that does not exist is stored (and
			// grants nothing); a second one of the same name is refused
			// in kubectl's words.
			tool.says(t, "rolebinding.rbac.authorization.k8s.io/twice created", "-n", ns, "create", "rolebinding", "twice", "--role=missing", "--user=u")
			tool.fails(t, `error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "twice" already exists`,
				"-n", ns, "create", "rolebinding", "twice", "--role=missing", "--user=u")
		})
	}

	t.Run("create token", func(t *testing.T) {
		ns := c.namespace(t)
		tools[0].says(t, "serviceaccount/robot created", "-n", ns, "create", "sa", "robot")
		for _, tool := range tools {
			// Into a pipe the token comes bare, without a newline.
			token := tool.ok(t, "-n", ns, "create", "token", "robot")
			parts := strings.Split(token, ".")
			if len(parts) != 3 || strings.ContainsAny(token, " \n") {
				t.Fatalf("%s create token printed %q, want a JWT", tool.name, token)
			}
			var claims struct {
				Sub string `json:"sub"`
				// Aud is a string for one audience, as JWTs allow.
				Aud any   `json:"aud"`
				Exp int64 `json:"exp"`
				Iat int64 `json:"iat"`
			}
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil || json.Unmarshal(payload, &claims) != nil {
				t.Fatalf("%s: the token's claims do not decode: %v %s", tool.name, err, payload)
			}
			if want := "system:serviceaccount:" + ns + ":robot"; claims.Sub != want {
				t.Errorf("%s: sub %q, want %q", tool.name, claims.Sub, want)
			}
			review, err := c.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !review.Status.Authenticated || review.Status.User.Username != "system:serviceaccount:"+ns+":robot" {
				t.Errorf("%s: TokenReview of the token: %+v", tool.name, review.Status)
			}

			// A lifetime and an audience of our own.
			token = tool.ok(t, "-n", ns, "create", "token", "robot", "--duration=10m", "--audience=vault")
			payload, _ = base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			if aud := fmt.Sprint(claims.Aud); claims.Exp-claims.Iat != 600 || (aud != "vault" && aud != "[vault]") {
				t.Errorf("%s: --duration=10m --audience=vault gave exp-iat %d aud %q", tool.name, claims.Exp-claims.Iat, claims.Aud)
			}
			review, err = c.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{"vault"}}}, metav1.CreateOptions{})
			if err != nil || !review.Status.Authenticated {
				t.Errorf("%s: TokenReview for audience vault: %v %+v", tool.name, err, review.Status)
			}

			var req authenticationv1.TokenRequest
			if err := json.Unmarshal([]byte(tool.ok(t, "-n", ns, "create", "token", "robot", "-o", "json")), &req); err != nil {
				t.Fatal(err)
			}
			if req.Kind != "TokenRequest" || req.Status.Token == "" || req.Status.ExpirationTimestamp.IsZero() {
				t.Errorf("%s create token -o json: %+v", tool.name, req)
			}
			tool.fails(t, `error: failed to create token: serviceaccounts "nobody" not found`, "-n", ns, "create", "token", "nobody")
		}
	})

	// Usage errors word as kubectl's: both tools print the same, with
	// the program's own name.
	t.Run("usage errors are kubectl's", func(t *testing.T) {
		ns := c.namespace(t)
		for _, args := range [][]string{
			{"auth", "can-i", "get"},
			{"auth", "can-i", "--list", "-A"},
			{"auth", "can-i", "--list", "pods"},
			{"auth", "can-i", "get", "pods", "--no-headers"},
			{"auth", "can-i", "get", "/logs", "--subresource=x"},
			{"create", "role", "r"},
			{"create", "role", "r", "--verb=get"},
			{"create", "role"},
			{"create", "role", "r", "--verb=impersonate", "--resource=pods"},
			{"create", "role", "r", "--verb=get", "--resource=foos"},
			{"create", "clusterrole", "c", "--verb=get"},
			{"create", "clusterrole", "c", "--verb=list", "--non-resource-url=/x"},
			{"create", "clusterrole", "c", "--verb=get", "--non-resource-url=x"},
			{"create", "clusterrole", "c", "--aggregation-rule=a=b", "--verb=get"},
			{"create", "rolebinding", "b", "--user=alice"},
			{"create", "rolebinding", "b", "--role=r", "--serviceaccount=app"},
			{"create", "token", "robot", "--duration=1500ms"},
			{"create", "token", "robot", "--bound-object-kind=ConfigMap", "--bound-object-name=x"},
			{"create", "token", "robot", "--bound-object-name=x"},
		} {
			args := append([]string{"-n", ns}, args...)
			got, want := tools[0].run(t, args...), tools[1].run(t, args...)
			want.stderr = strings.ReplaceAll(want.stderr, "kubectl", "ctl")
			if got.code != 1 || got != want {
				t.Errorf("%s:\nctl:\n%s\nkubectl:\n%s", strings.Join(args, " "), got, want)
			}
		}
	})

	t.Run("can-i --list prints kubectl's table", func(t *testing.T) {
		ns := c.namespace(t)
		k := tools[0]
		k.ok(t, "-n", ns, "create", "role", "mixed", "--verb=get,update", "--resource=deployments.apps,deployments.apps/scale,configmaps", "--resource-name=web", "--resource-name=db")
		k.ok(t, "-n", ns, "create", "role", "logs", "--verb=get", "--resource=pods/log,pods")
		k.ok(t, "-n", ns, "create", "rolebinding", "carol-mixed", "--role=mixed", "--user=carol")
		k.ok(t, "-n", ns, "create", "rolebinding", "carol-logs", "--role=logs", "--user=carol")
		eventually(t, "carol may read logs", func() bool {
			return k.run(t, "--as", "carol", "-n", ns, "auth", "can-i", "get", "pods", "--subresource=log").code == 0
		})
		for _, args := range [][]string{
			{"--as", "carol", "-n", ns, "auth", "can-i", "--list"},
			{"--as", "carol", "-n", ns, "auth", "can-i", "--list", "--no-headers"},
			{"-n", ns, "auth", "can-i", "--list"},
		} {
			got, want := tools[0].run(t, args...), tools[1].run(t, args...)
			if got.code != 0 || got != want {
				t.Errorf("%s:\nctl:\n%s\nkubectl:\n%s", strings.Join(args, " "), got, want)
			}
		}
	})

	t.Run("can-i warnings are kubectl's", func(t *testing.T) {
		for _, args := range [][]string{
			{"auth", "can-i", "get", "nodes"},
			{"auth", "can-i", "frob", "pods"},
			{"auth", "can-i", "get", "foos.example.com"},
			{"auth", "can-i", "list", "/healthz"},
			{"--as", "alice", "auth", "can-i", "create", "selfsubjectaccessreviews"},
		} {
			got, want := tools[0].run(t, args...), tools[1].run(t, args...)
			if got != want || !strings.HasPrefix(got.stderr, "Warning: ") {
				t.Errorf("%s:\nctl:\n%s\nkubectl:\n%s", strings.Join(args, " "), got, want)
			}
		}
	})
}
