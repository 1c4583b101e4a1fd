package integration

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/kubelet"
	"coracle.dev/shared/pki"
	"coracle.dev/shared/testserver"
)

// ensurePodCredentials makes what the controller manager would make in
// a namespace, which the ServiceAccount admission and the pods' API
// access volumes need: the default ServiceAccount and the kube-root-ca.crt
// ConfigMap with the cluster CA.
func ensurePodCredentials(t testing.TB, ts *testserver.TestServer, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	ca, err := os.ReadFile(filepath.Join(ts.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatalf("cluster CA: %v", err)
	}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("default ServiceAccount: %v", err)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &v1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": string(ca)},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kube-root-ca.crt: %v", err)
	}
}

// requireSecurityAPIs fails the test, naming them, when the apiserver
// does not serve what the kubelet's security needs: the TokenRequest,
// TokenReview and SubjectAccessReview APIs and RBAC.
func requireSecurityAPIs(t testing.TB, client kubernetes.Interface) {
	t.Helper()
	want := map[string][]string{
		"v1":                           {"serviceaccounts/token"},
		"authentication.k8s.io/v1":     {"tokenreviews"},
		"authorization.k8s.io/v1":      {"subjectaccessreviews"},
		"rbac.authorization.k8s.io/v1": {"clusterroles", "clusterrolebindings"},
	}
	var missing []string
	for gv, resources := range want {
		list, err := client.Discovery().ServerResourcesForGroupVersion(gv)
		for _, r := range resources {
			if err != nil || !slices.ContainsFunc(list.APIResources, func(a metav1.APIResource) bool { return a.Name == r }) {
				missing = append(missing, gv+" "+r)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("the apiserver does not serve %s (issue 13's apiserver side)", strings.Join(missing, ", "))
	}
}

// serviceAccountToken makes a ServiceAccount and returns a token of it.
func serviceAccountToken(t testing.TB, client kubernetes.Interface, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// grantNodes binds a ServiceAccount to a ClusterRole with a verb on
// nodes subresources.
func grantNodes(t testing.TB, client kubernetes.Interface, ns, sa, verb string, subresources ...string) {
	t.Helper()
	ctx := context.Background()
	name := "kubelet-test-" + sa
	var resources []string
	for _, s := range subresources {
		resources = append(resources, "nodes/"+s)
	}
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: resources, Verbs: []string{verb}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// kubeletGet calls the kubelet API with a bearer token ("" for none)
// and an optional client certificate.
func kubeletGet(t testing.TB, addr, path, token string, cert *tls.Certificate) (int, string) {
	t.Helper()
	tr := insecureTransport()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	req, err := http.NewRequest("GET", "https://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func clientCert(t testing.TB, ca *pki.KeyPair, cn string, groups ...string) *tls.Certificate {
	t.Helper()
	kp, err := ca.Issue(pki.Request{CommonName: cn, Organization: groups, Usage: pki.ClientUsage})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestKubeletAPIAuthentication drives the kubelet API's webhook
// authentication and authorization with real tokens, RBAC and reviews:
// a simulated node is enough.
func TestKubeletAPIAuthentication(t *testing.T) {
	ts := testserver.Start(t)
	client := clientFor(t, ts)
	requireSecurityAPIs(t, client)
	name := "authn-" + randHex(4)
	k := startFake(t, ts, name, 1)
	addr := k.Addr()
	ns := "default"

	nobody := serviceAccountToken(t, client, ns, "nobody")
	prober := serviceAccountToken(t, client, ns, "prober")
	scraper := serviceAccountToken(t, client, ns, "scraper")
	grantNodes(t, client, ns, "prober", "get", "proxy")
	grantNodes(t, client, ns, "scraper", "get", "stats")

	ca, err := pki.Load(filepath.Join(ts.DataDir, "pki"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := pki.NewCA("another-cluster")
	if err != nil {
		t.Fatal(err)
	}
	apiserverCert := clientCert(t, ca, "kube-apiserver-kubelet-client", "system:masters")
	foreignCert := clientCert(t, otherCA, "kube-apiserver-kubelet-client", "system:masters")

	forbidden := func(user, subs string) string {
		return fmt.Sprintf("Forbidden (user=%s, verb=get, resource=nodes, subresource(s)=[%s])\n", user, subs)
	}
	for _, tc := range []struct {
		name, path, token string
		cert              *tls.Certificate
		code              int
		body              string
	}{
		{"no credential is 401", "/pods", "", nil, 401, "Unauthorized"},
		{"healthz needs a credential too", "/healthz", "", nil, 401, "Unauthorized"},
		{"a malformed token is 401", "/pods", "not-a-jwt", nil, 401, "Unauthorized"},
		{"a certificate of another CA is 401", "/pods", "", foreignCert, 401, "Unauthorized"},
		{"a token without nodes/proxy is 403", "/containerLogs/default/none/c", nobody, nil, 403,
			forbidden("system:serviceaccount:default:nobody", "proxy")},
		{"pods need nodes/pods or nodes/proxy", "/pods", nobody, nil, 403,
			forbidden("system:serviceaccount:default:nobody", "pods proxy")},
		{"a token with nodes/proxy lists the pods", "/pods", prober, nil, 200, ""},
		{"a token with nodes/proxy reaches the logs (of no such pod)", "/containerLogs/default/none/c", prober, nil, 404, "pod default/none not found\n"},
		{"a token with nodes/stats reads the stats", "/stats/summary", scraper, nil, 200, ""},
		{"nodes/stats is not nodes/proxy", "/containerLogs/default/none/c", scraper, nil, 403,
			forbidden("system:serviceaccount:default:scraper", "proxy")},
		{"the apiserver's certificate may do everything", "/pods", "", apiserverCert, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := kubeletGet(t, addr, tc.path, tc.token, tc.cert)
			if code != tc.code || (tc.body != "" && body != tc.body) {
				t.Errorf("GET %s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
			}
		})
	}

	// With --anonymous-auth, a request without a credential is
	// system:anonymous, whom nothing allows.
	anon := startFake(t, ts, name+"-anon", 1, func(o *kubelet.Options) { o.AnonymousAuth = true })
	if code, body := kubeletGet(t, anon.Addr(), "/pods", "", nil); code != 403 || body != forbidden("system:anonymous", "pods proxy") {
		t.Errorf("anonymous with --anonymous-auth: %d %q", code, body)
	}
	if code, _ := kubeletGet(t, anon.Addr(), "/pods", "not-a-jwt", nil); code != 401 {
		t.Errorf("a malformed token with --anonymous-auth: %d, want 401 (a bad credential is not anonymous)", code)
	}
}

// jwtClaims are the claims of a ServiceAccount token the test checks.
type jwtClaims struct {
	Subject    string `json:"sub"`
	Expiry     int64  `json:"exp"`
	IssuedAt   int64  `json:"iat"`
	Kubernetes struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
		ServiceAccount struct {
			Name string `json:"name"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

func decodeJWT(t testing.TB, token string) jwtClaims {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS compact serialization", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("token claims %s: %v", payload, err)
	}
	return c
}

// apiAccessVolume is the volume the ServiceAccount admission adds to
// pods, under a name of the test's.
func apiAccessVolume(name string) v1.Volume {
	mode := int32(0o644)
	exp := int64(3607)
	return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

// TestServiceAccountTokenVolume runs a pod with the projected API
// access volume: the kubelet writes a token bound to the pod, the CA and
// the namespace, behind ..data, and swaps them atomically when a source
// changes.
func TestServiceAccountTokenVolume(t *testing.T) {
	n := startNode(t, func(o *kubelet.Options) { o.VolumeRefreshPeriod = 500 * time.Millisecond })
	requireSecurityAPIs(t, n.client)
	ctx := context.Background()
	if _, err := n.client.CoreV1().ServiceAccounts(n.ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const mount = "/var/run/secrets/kubernetes.io/serviceaccount"
	c := sh("c", "exec sleep 3600")
	c.VolumeMounts = []v1.VolumeMount{{Name: "kube-api-access-test", MountPath: mount, ReadOnly: true}}
	p := n.pod("token-user", c)
	p.Spec.ServiceAccountName = "builder"
	p.Spec.AutomountServiceAccountToken = ptrBool(false) // the test's volume, not the admission's
	p.Spec.Volumes = []v1.Volume{apiAccessVolume("kube-api-access-test")}
	created := n.create(p)
	n.waitRunning("token-user")

	dir := filepath.Join(n.opts.RootDir, "volumes", string(created.UID), "kube-api-access-test")
	hostToken, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	claims := decodeJWT(t, string(hostToken))
	if claims.Subject != "system:serviceaccount:default:builder" || claims.Kubernetes.Namespace != "default" ||
		claims.Kubernetes.Pod.Name != "token-user" || claims.Kubernetes.Pod.UID != string(created.UID) ||
		claims.Kubernetes.ServiceAccount.Name != "builder" {
		t.Errorf("token claims %+v: want the builder ServiceAccount bound to the pod", claims)
	}
	if life := claims.Expiry - claims.IssuedAt; life < 3600 {
		t.Errorf("token valid for %ds, want the 3607s asked for (or more)", life)
	}
	for name, want := range map[string]string{"token": "..data/token", "ca.crt": "..data/ca.crt", "namespace": "..data/namespace"} {
		if link, err := os.Readlink(filepath.Join(dir, name)); err != nil || link != want {
			t.Errorf("%s -> %q (%v), want a link through ..data", name, link, err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(n.ts.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(file string) string {
		t.Helper()
		r := n.exec("token-user", "c", "", false, "cat", mount+"/"+file)
		if r.err != nil {
			t.Fatalf("cat %s in the pod: %v (%s)", file, r.err, r.stderr)
		}
		return r.stdout
	}
	if got := read("token"); got != string(hostToken) {
		t.Errorf("the pod reads token %q, the kubelet wrote %q", got, hostToken)
	}
	if got := read("namespace"); got != "default" {
		t.Errorf("namespace %q", got)
	}
	if got := read("ca.crt"); got != string(caPEM) {
		t.Errorf("ca.crt %q, want the cluster CA", got)
	}

	// A source changes: the next refresh swaps a new version in whole;
	// the token, not yet due, stays.
	before, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := n.client.CoreV1().ConfigMaps(n.ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rotated := string(caPEM) + "# rotated\n"
	cm.Data["ca.crt"] = rotated
	if _, err := n.client.CoreV1().ConfigMaps(n.ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the pod to see the new ca.crt", func() (bool, error) {
		got := read("ca.crt")
		return got == rotated, fmt.Errorf("ca.crt %q", got)
	})
	after, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || after == before {
		t.Errorf("..data %q -> %q (%v): want a new version directory", before, after, err)
	}
	if _, err := os.Stat(filepath.Join(dir, before)); !os.IsNotExist(err) {
		t.Errorf("the old version %s is still there: %v", before, err)
	}
	if got := read("token"); got != string(hostToken) {
		t.Error("the token changed though it was not due for renewal")
	}
}

// TestServiceEnvironment checks the Services' variables in containers:
// the master service's always, the namespace's with service links.
func TestServiceEnvironment(t *testing.T) {
	n := startNode(t, startLater)
	ctx := context.Background()
	master, err := n.client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	redis, err := n.client.CoreV1().Services(n.ns).Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-primary"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "redis"}, Ports: []v1.ServicePort{
			{Name: "redis", Port: 6379, Protocol: v1.ProtocolTCP}, {Name: "metrics", Port: 9121, Protocol: v1.ProtocolTCP},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.CoreV1().Services(n.ns).Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "headless"},
		Spec:       v1.ServiceSpec{ClusterIP: v1.ClusterIPNone, Selector: map[string]string{"app": "x"}, Ports: []v1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Started once the Services exist: it lists them before it runs a
	// pod, so none can miss them.
	n.startKubelet()

	linked := sh("c", "env | sort; echo args=$0; echo done")
	linked.Command = append(linked.Command, "$(REDIS_PRIMARY_SERVICE_HOST)")
	linked.Env = []v1.EnvVar{
		{Name: "REDIS_PRIMARY_SERVICE_PORT", Value: "mine"},
		{Name: "REDIS_URL", Value: "redis://$(REDIS_PRIMARY_SERVICE_HOST):$(REDIS_PRIMARY_SERVICE_PORT)"},
	}
	p := n.pod("linked", linked)
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(p)
	unlinked := n.pod("unlinked", sh("c", "env | sort; echo done"))
	unlinked.Spec.RestartPolicy = v1.RestartPolicyNever
	unlinked.Spec.EnableServiceLinks = ptrBool(false)
	n.create(unlinked)

	mip, mport := master.Spec.ClusterIP, fmt.Sprint(master.Spec.Ports[0].Port)
	rip := redis.Spec.ClusterIP
	masterVars := []string{
		"KUBERNETES_SERVICE_HOST=" + mip, "KUBERNETES_SERVICE_PORT=" + mport,
		"KUBERNETES_PORT=tcp://" + mip + ":" + mport, "KUBERNETES_PORT_" + mport + "_TCP_ADDR=" + mip,
	}
	n.waitPod("linked", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	out := n.waitLog("linked", "c", "done")
	for _, want := range append(masterVars,
		"REDIS_PRIMARY_SERVICE_HOST="+rip, "REDIS_PRIMARY_SERVICE_PORT=mine", "REDIS_PRIMARY_SERVICE_PORT_REDIS=6379",
		"REDIS_PRIMARY_SERVICE_PORT_METRICS=9121", "REDIS_PRIMARY_PORT=tcp://"+rip+":6379",
		"REDIS_PRIMARY_PORT_6379_TCP=tcp://"+rip+":6379", "REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp",
		"REDIS_PRIMARY_PORT_6379_TCP_PORT=6379", "REDIS_PRIMARY_PORT_9121_TCP_ADDR="+rip,
		"REDIS_URL=redis://"+rip+":mine", "args="+rip,
	) {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("linked pod's env lacks %s", want)
		}
	}
	if strings.Contains(out, "HEADLESS_") {
		t.Error("a headless Service has variables")
	}
	if t.Failed() {
		t.Logf("env:\n%s", out)
	}

	n.waitPod("unlinked", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	out = n.waitLog("unlinked", "c", "done")
	for _, want := range masterVars {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("unlinked pod's env lacks %s", want)
		}
	}
	if strings.Contains(out, "REDIS_PRIMARY") {
		t.Errorf("enableServiceLinks: false, yet the namespace's Services are linked:\n%s", out)
	}
}
