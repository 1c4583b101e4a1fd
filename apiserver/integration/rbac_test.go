package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// as is an admin client impersonating user in groups.
func (c *cluster) as(t *testing.T, user string, groups ...string) *kubernetes.Clientset {
	t.Helper()
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestRBAC: a user with no binding is refused with Kubernetes' message;
// a RoleBinding grants its Role's rules in its namespace only, and
// deleting it takes them back; a binding to a missing role is stored and
// grants nothing; nobody grants what they do not hold.
func TestRBAC(t *testing.T) {
	c := start(t, withTokens(t, "alice-token,alice,1001", "bob-token,bob,1002"))
	createNamespace(t, c, "team-a")
	createNamespace(t, c, "team-b")
	alice := c.tokenClient(t, "alice-token")

	_, err := alice.CoreV1().Pods("team-a").List(ctx(t), metav1.ListOptions{})
	want := `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-a"`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("list before any binding: %v, want 403 %q", err, want)
	}

	// A binding to a role that does not exist yet: stored, grants nothing,
	// and the 403 says why.
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-reads-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
	}
	if _, err := c.client.RbacV1().RoleBindings("team-a").Create(ctx(t), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the missing role named in the 403", func() (bool, error) {
		_, err := alice.CoreV1().Pods("team-a").List(ctx(t), metav1.ListOptions{})
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `role.rbac.authorization.k8s.io "pod-reader" not found`), err
	})

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := c.client.RbacV1().Roles("team-a").Create(ctx(t), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "alice listing pods in team-a", func() (bool, error) {
		_, err := alice.CoreV1().Pods("team-a").List(ctx(t), metav1.ListOptions{})
		return err == nil, err
	})
	if _, err := alice.CoreV1().Pods("team-b").List(ctx(t), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice listing pods in team-b: %v, want 403", err)
	}
	if err := alice.CoreV1().Pods("team-a").Delete(ctx(t), "x", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice deleting a pod: %v, want 403", err)
	}

	// Escalation: alice may manage Roles and RoleBindings in team-a, but
	// not grant what she does not hold.
	admin := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-manager"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles", "rolebindings"},
			Verbs: []string{"create", "get", "list", "update", "delete"}}},
	}
	if _, err := c.client.RbacV1().Roles("team-a").Create(ctx(t), admin, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	managerBinding := binding.DeepCopy()
	managerBinding.Name, managerBinding.RoleRef.Name = "alice-manages-rbac", "rbac-manager"
	if _, err := c.client.RbacV1().RoleBindings("team-a").Create(ctx(t), managerBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secretsRole := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}},
	}
	eventually(t, 10*time.Second, "alice refused a role with rights she lacks", func() (bool, error) {
		_, err := alice.RbacV1().Roles("team-a").Create(ctx(t), secretsRole, metav1.CreateOptions{})
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "attempting to grant RBAC permissions not currently held"), err
	})
	// She may hand on what she holds.
	podsToBob := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-reads-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}},
	}
	if _, err := alice.RbacV1().RoleBindings("team-a").Create(ctx(t), podsToBob, metav1.CreateOptions{}); err != nil {
		t.Errorf("alice binding a role she holds: %v", err)
	}
	// But not cluster-admin.
	adminToBob := podsToBob.DeepCopy()
	adminToBob.Name, adminToBob.RoleRef = "bob-admin", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}
	if _, err := alice.RbacV1().RoleBindings("team-a").Create(ctx(t), adminToBob, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice binding cluster-admin: %v, want 403", err)
	}

	// Deleting the binding takes the rights back.
	if err := c.client.RbacV1().RoleBindings("team-a").Delete(ctx(t), "alice-reads-pods", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "alice refused again", func() (bool, error) {
		_, err := alice.CoreV1().Pods("team-a").List(ctx(t), metav1.ListOptions{})
		return apierrors.IsForbidden(err), err
	})

	// The bootstrap policy is there, labelled as Kubernetes labels it.
	view, err := c.client.RbacV1().ClusterRoles().Get(ctx(t), "view", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if view.Labels["kubernetes.io/bootstrapping"] != "rbac-defaults" || view.AggregationRule == nil || len(view.Rules) == 0 {
		t.Errorf("view: labels %v, aggregation %v, %d rules", view.Labels, view.AggregationRule, len(view.Rules))
	}
}

// TestImpersonation: --as needs the impersonate verb; the admin has it,
// alice does not until granted, and then acts as the user she names.
func TestImpersonation(t *testing.T) {
	c := start(t, withTokens(t, "alice-token,alice,1001"))
	createNamespace(t, c, "imp")
	asBob := c.as(t, "bob", "qa")
	review, err := asBob.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := review.Status.UserInfo; u.Username != "bob" || !equalStrings(u.Groups, []string{"qa", "system:authenticated"}) {
		t.Errorf("impersonated user %+v", u)
	}

	cfg := rest.CopyConfig(c.tokenClientConfig("alice-token"))
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "bob"}
	aliceAsBob, _ := kubernetes.NewForConfig(cfg)
	_, err = aliceAsBob.CoreV1().Pods("imp").List(ctx(t), metav1.ListOptions{})
	want := `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("alice as bob: %v, want %q", err, want)
	}
	if _, err := c.client.RbacV1().ClusterRoles().Create(ctx(t), &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"bob"}, Verbs: []string{"impersonate"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.RbacV1().ClusterRoleBindings().Create(ctx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-impersonates-bob"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-bob"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Now the request runs as bob, who may not list pods.
	eventually(t, 10*time.Second, "alice acting as bob", func() (bool, error) {
		_, err := aliceAsBob.CoreV1().Pods("imp").List(ctx(t), metav1.ListOptions{})
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `User "bob" cannot list`), err
	})
}

// TestReviews: the review APIs answer as Kubernetes'.
func TestReviews(t *testing.T) {
	c := start(t, withTokens(t, "alice-token,alice,1001,devs"))
	createNamespace(t, c, "rev")
	if _, err := c.client.RbacV1().RoleBindings("rev").Create(ctx(t), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "devs-edit"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := c.tokenClient(t, "alice-token")
	can := func(verb, resource, ns string) bool {
		t.Helper()
		r, err := alice.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx(t), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: resource, Namespace: ns}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	eventually(t, 10*time.Second, "edit granted to devs", func() (bool, error) { return can("create", "configmaps", "rev"), nil })
	if can("get", "secrets", "default") || can("create", "roles", "rev") {
		t.Error("edit grants too much")
	}

	// SubjectAccessReview for another user, by the admin.
	sar, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx(t), &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "alice", Groups: []string{"devs"}, ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "delete", Resource: "pods", Namespace: "rev"},
	}}, metav1.CreateOptions{})
	if err != nil || !sar.Status.Allowed || !strings.Contains(sar.Status.Reason, `RoleBinding "devs-edit/rev"`) && !strings.Contains(sar.Status.Reason, "devs-edit") {
		t.Errorf("SAR: %+v, %v", sar, err)
	}
	// Not by alice.
	if _, err := alice.AuthorizationV1().SubjectAccessReviews().Create(ctx(t), sar, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("alice creating a SubjectAccessReview: %v, want 403", err)
	}
	// Both attributes: 422 with Kubernetes' message.
	_, err = c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx(t), &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "x",
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get"}, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/"},
	}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "exactly one of nonResourceAttributes or resourceAttributes must be specified") {
		t.Errorf("SAR with both attributes: %v", err)
	}
	// A local review in another namespace than its attributes: 422.
	_, err = c.client.AuthorizationV1().LocalSubjectAccessReviews("rev").Create(ctx(t), &authorizationv1.LocalSubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{Namespace: "rev"},
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice", Groups: []string{"devs"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "default"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "must match metadata.namespace") {
		t.Errorf("LocalSubjectAccessReview across namespaces: %v", err)
	}

	rules, err := alice.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx(t), &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "rev"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rules.Status.ResourceRules {
		if contains(strings.Join(r.Resources, ","), "configmaps") && contains(strings.Join(r.Verbs, ","), "create") {
			found = true
		}
	}
	if !found {
		t.Errorf("rules review of alice in rev lacks edit's configmaps rule: %+v", rules.Status)
	}

	who, err := alice.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || who.Status.UserInfo.Username != "alice" || who.Status.UserInfo.UID != "1001" {
		t.Errorf("whoami: %+v, %v", who, err)
	}

	// Discovery lists the review kinds with create only.
	res, err := c.client.Discovery().ServerResourcesForGroupVersion("authorization.k8s.io/v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.APIResources {
		if len(r.Verbs) != 1 || r.Verbs[0] != "create" {
			t.Errorf("%s verbs %v, want [create]", r.Name, r.Verbs)
		}
	}
}

// TestServiceAccountTokens: TokenRequest mints a token that logs in as the
// ServiceAccount, that a TokenReview accepts, and that stops working with
// the pod it is bound to; a garbage token is 401.
func TestServiceAccountTokens(t *testing.T) {
	c := start(t)
	createNamespace(t, c, "sa")
	eventuallySA(t, c, "sa", "default")
	if _, err := c.client.CoreV1().ServiceAccounts("sa").Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := c.client.CoreV1().ServiceAccounts("sa").CreateToken(ctx(t), "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token == "" || time.Until(tr.Status.ExpirationTimestamp.Time) < 50*time.Minute {
		t.Fatalf("token request status %+v", tr.Status)
	}
	robot := c.tokenClient(t, tr.Status.Token)
	who, err := robot.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := who.Status.UserInfo
	if u.Username != "system:serviceaccount:sa:robot" || !equalStrings(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:sa", "system:authenticated"}) {
		t.Errorf("token user %+v", u)
	}
	if _, err := robot.CoreV1().Pods("sa").List(ctx(t), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("robot listing pods with no binding: %v, want 403", err)
	}

	review, err := c.client.AuthenticationV1().TokenReviews().Create(ctx(t), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token}}, metav1.CreateOptions{})
	if err != nil || !review.Status.Authenticated || review.Status.User.Username != "system:serviceaccount:sa:robot" {
		t.Errorf("token review: %+v, %v", review, err)
	}
	review, err = c.client.AuthenticationV1().TokenReviews().Create(ctx(t), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "not.a.jwt"}}, metav1.CreateOptions{})
	if err != nil || review.Status.Authenticated {
		t.Errorf("garbage token review: %+v, %v", review, err)
	}
	if _, err := c.client.AuthenticationV1().TokenReviews().Create(ctx(t), &authenticationv1.TokenReview{}, metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("empty token review: %v, want 400", err)
	}
	// For another audience: not authenticated.
	review, err = c.client.AuthenticationV1().TokenReviews().Create(ctx(t), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token, Audiences: []string{"vault"}}}, metav1.CreateOptions{})
	if err == nil && review.Status.Authenticated {
		t.Errorf("token accepted for audience vault: %+v", review.Status)
	}
	if _, err := c.tokenClient(t, "eyJhbGciOiJSUzI1NiJ9.e30.bad").CoreV1().Pods("sa").List(ctx(t), metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("bad token: %v, want 401", err)
	}

	// Bound to a pod: gone with the pod.
	pod, err := c.client.CoreV1().Pods("sa").Create(ctx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := c.client.CoreV1().ServiceAccounts("sa").CreateToken(ctx(t), "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	boundClient := c.tokenClient(t, bound.Status.Token)
	who, err = boundClient.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || who.Status.UserInfo.Extra["authentication.kubernetes.io/pod-name"][0] != "p" {
		t.Fatalf("pod-bound token: %+v, %v", who, err)
	}
	zero := int64(0)
	if err := c.client.CoreV1().Pods("sa").Delete(ctx(t), "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the pod-bound token refused", func() (bool, error) {
		_, err := boundClient.AuthenticationV1().SelfSubjectReviews().Create(ctx(t), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return apierrors.IsUnauthorized(err), err
	})

	// The issuer's discovery documents, for authenticated users.
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
	if resp.code != http.StatusOK || !strings.Contains(string(resp.body), `"jwks_uri"`) {
		t.Errorf("openid-configuration: %d %s", resp.code, resp.body)
	}
	resp = doWith(t, c.http, c.Server.URL(), http.MethodGet, "/openid/v1/jwks", "", nil, nil)
	if resp.code != http.StatusOK || !strings.Contains(string(resp.body), `"kid"`) {
		t.Errorf("jwks: %d %s", resp.code, resp.body)
	}
}

// tokenClientConfig is the rest config of tokenClient.
func (c *cluster) tokenClientConfig(token string) *rest.Config {
	return &rest.Config{Host: c.Server.URL(), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.Server.CACertPEM()}}
}

// eventuallySA creates the ServiceAccount ns/name if the controller
// manager (not running in these tests) has not: pods need one.
func eventuallySA(t *testing.T, c *cluster, ns, name string) {
	t.Helper()
	_, err := c.client.CoreV1().ServiceAccounts(ns).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestServiceAccountAdmission: pods run as "default" and get its token,
// the cluster CA and their namespace in a projected volume, unless they
// opt out; a pod whose account does not exist is refused.
func TestServiceAccountAdmission(t *testing.T) {
	c := start(t, servertest.WithConfig(func(cfg *server.Config) { cfg.DisableAdmissionPlugins = nil }))
	createNamespace(t, c, "adm")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	_, err := c.client.CoreV1().Pods("adm").Create(ctx(t), pod, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `error looking up service account adm/default`) {
		t.Fatalf("pod without a default ServiceAccount: %v, want 403", err)
	}
	eventuallySA(t, c, "adm", "default")
	got, err := c.client.CoreV1().Pods("adm").Create(ctx(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServiceAccountName != "default" || len(got.Spec.Volumes) != 1 || !strings.HasPrefix(got.Spec.Volumes[0].Name, "kube-api-access-") {
		t.Fatalf("admitted pod: account %q, volumes %+v", got.Spec.ServiceAccountName, got.Spec.Volumes)
	}
	src := got.Spec.Volumes[0].Projected
	if src == nil || len(src.Sources) != 3 || src.Sources[0].ServiceAccountToken == nil || src.Sources[0].ServiceAccountToken.ExpirationSeconds == nil ||
		*src.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 {
		t.Errorf("projected volume %+v", src)
	}
	m := got.Spec.Containers[0].VolumeMounts
	if len(m) != 1 || m[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !m[0].ReadOnly {
		t.Errorf("mounts %+v", m)
	}
	off := false
	optOut := pod.DeepCopy()
	optOut.Name, optOut.Spec.AutomountServiceAccountToken = "q", &off
	if got, err = c.client.CoreV1().Pods("adm").Create(ctx(t), optOut, metav1.CreateOptions{}); err != nil || len(got.Spec.Volumes) != 0 {
		t.Errorf("automountServiceAccountToken false: %v, volumes %+v", err, got)
	}
}
