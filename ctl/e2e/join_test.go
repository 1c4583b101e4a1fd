package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/cluster-bootstrap/token/jws"

	"coracle.dev/shared/pki"
	"coracle.dev/shared/testserver"
)

var (
	tokenLine = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	joinLine  = regexp.MustCompile(`^ctl join (\S+) --token ([a-z0-9]{6})\.([a-z0-9]{16}) --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})$`)
)

// caHash is the pin of the cluster's CA, computed from the admin
// kubeconfig the tests trust.
func (c *cluster) caHash(t *testing.T) string {
	t.Helper()
	certs, err := certutil.ParseCertsPEM(c.ts.Config.CAData)
	if err != nil || len(certs) != 1 {
		t.Fatalf("the admin kubeconfig's CA: %d certificates, %v", len(certs), err)
	}
	return pki.PublicKeyHash(certs[0])
}

func (c *cluster) tokenSecret(t *testing.T, id string) *corev1.Secret {
	t.Helper()
	s, err := c.client.CoreV1().Secrets("kube-system").Get(context.Background(), "bootstrap-token-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the token's Secret: %v", err)
	}
	return s
}

// advertiseLoopback makes the apiserver advertise the address the tests
// reach it at: cluster-info, and so the join command, then name it.
var advertiseLoopback = testserver.WithArgs("--advertise-address", "127.0.0.1")

func TestToken(t *testing.T) {
	c := startCluster(t, advertiseLoopback)
	k := ctl(t, c)

	t.Run("create stores the token as Kubernetes stores it", func(t *testing.T) {
		before := time.Now()
		out := strings.TrimSpace(k.ok(t, "token", "create", "--description", "first token"))
		if !tokenLine.MatchString(out) {
			t.Fatalf("token create printed %q", out)
		}
		id, secret, _ := strings.Cut(out, ".")
		s := c.tokenSecret(t, id)
		if s.Type != "bootstrap.kubernetes.io/token" {
			t.Errorf("type %q", s.Type)
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		exp, err := time.Parse(time.RFC3339, data["expiration"])
		if err != nil || exp.Before(before.Add(24*time.Hour-time.Minute)) || exp.After(time.Now().Add(24*time.Hour+time.Minute)) {
			t.Errorf("expiration %q (%v), want 24h from now in RFC 3339", data["expiration"], err)
		}
		delete(data, "expiration")
		want := map[string]string{
			"token-id": id, "token-secret": secret, "description": "first token",
			"usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
			"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
		}
		if fmt.Sprint(data) != fmt.Sprint(want) {
			t.Errorf("data %v\nwant %v", data, want)
		}
	})

	t.Run("create with a given token, no expiry and one usage", func(t *testing.T) {
		k.says(t, "abcdef.0123456789abcdef", "token", "create", "abcdef.0123456789abcdef", "--ttl", "0", "--usages", "signing", "--groups", "")
		s := c.tokenSecret(t, "abcdef")
		keys := []string{}
		for k := range s.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"token-id", "token-secret", "usage-bootstrap-signing"}; !slices.Equal(keys, want) {
			t.Errorf("keys %q, want %q", keys, want)
		}
		k.fails(t, `error: a token with id "abcdef" already exists`, "token", "create", "abcdef.0123456789abcdef")
	})

	t.Run("create refuses bad input with kubeadm's messages", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"ABCDEF.0123456789abcdef"}, `error: the bootstrap token "ABCDEF.0123456789abcdef" was not of the form "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z"`},
			{[]string{"--usages", "signing,flying"}, "invalid bootstrap token usage string: flying, valid usage options: signing,authentication"},
			{[]string{"--groups", "system:masters"}, `bootstrap group "system:masters" is invalid (must match \Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z)`},
			{[]string{"--usages", "signing"}, `token groups cannot be specified unless --usages includes "authentication"`},
		} {
			r := k.run(t, append([]string{"token", "create"}, tc.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("token create %q: want exit 1 and %q; got %s", tc.args, tc.want, r)
			}
		}
	})

	t.Run("list shows kubeadm's columns", func(t *testing.T) {
		k.ok(t, "token", "create", "zyxwvu.0123456789abcdef", "--description", "listed")
		tb := parseTable(k.ok(t, "token", "list"))
		if want := []string{"TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"}; !slices.Equal(tb.header, want) {
			t.Fatalf("columns %q, want %q", tb.header, want)
		}
		r := tb.row("TOKEN", "zyxwvu.0123456789abcdef")
		if r == nil || r["TTL"] != "23h" || r["USAGES"] != "authentication,signing" || r["DESCRIPTION"] != "listed" ||
			r["EXTRA GROUPS"] != "system:bootstrappers:kubeadm:default-node-token" {
			t.Errorf("row %v", r)
		}
		if _, err := time.Parse(time.RFC3339, r["EXPIRES"]); err != nil {
			t.Errorf("EXPIRES %q: %v", r["EXPIRES"], err)
		}
		var out struct {
			Kind, APIVersion, Token string
			Usages                  []string
		}
		for _, doc := range strings.SplitAfter(k.ok(t, "token", "list", "-o", "json"), "\n}\n") {
			if strings.Contains(doc, "zyxwvu") {
				if err := json.Unmarshal([]byte(doc), &out); err != nil {
					t.Fatal(err)
				}
			}
		}
		if out.Kind != "BootstrapToken" || out.APIVersion != "output.kubeadm.k8s.io/v1alpha3" || out.Token != "zyxwvu.0123456789abcdef" {
			t.Errorf("-o json: %+v", out)
		}
	})

	t.Run("delete by id or whole token", func(t *testing.T) {
		k.ok(t, "token", "create", "qwerty.0123456789abcdef")
		k.ok(t, "token", "create", "asdfgh.0123456789abcdef")
		k.says(t, "bootstrap token \"qwerty\" deleted\nbootstrap token \"asdfgh\" deleted", "token", "delete", "qwerty", "asdfgh.0123456789abcdef")
		for _, id := range []string{"qwerty", "asdfgh"} {
			if _, err := c.client.CoreV1().Secrets("kube-system").Get(context.Background(), "bootstrap-token-"+id, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("token %s: %v", id, err)
			}
		}
		k.fails(t, `error: failed to delete bootstrap token "qwerty": secrets "bootstrap-token-qwerty" not found`, "token", "delete", "qwerty")
		k.fails(t, `error: given token didn't match pattern "\\A([a-z0-9]{6})\\.([a-z0-9]{16})\\z" or "\\A([a-z0-9]{6})\\z"`, "token", "delete", "nope")
	})

	t.Run("generate prints a token and stores nothing", func(t *testing.T) {
		out := strings.TrimSpace(k.ok(t, "token", "generate"))
		if !tokenLine.MatchString(out) {
			t.Fatalf("generate printed %q", out)
		}
		id, _, _ := strings.Cut(out, ".")
		if _, err := c.client.CoreV1().Secrets("kube-system").Get(context.Background(), "bootstrap-token-"+id, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("generate stored its token: %v", err)
		}
	})

	t.Run("print-join-command names the apiserver and pins its CA", func(t *testing.T) {
		out := strings.TrimSpace(k.ok(t, "token", "create", "--print-join-command"))
		m := joinLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("printed %q", out)
		}
		if want := fmt.Sprintf("127.0.0.1:%d", c.ts.Port); m[1] != want {
			t.Errorf("endpoint %s, want %s", m[1], want)
		}
		if m[4] != c.caHash(t) {
			t.Errorf("hash %s, want %s", m[4], c.caHash(t))
		}
		c.tokenSecret(t, m[2])
	})
}

// clusterInfo waits for the apiserver's kube-public/cluster-info.
func (c *cluster) clusterInfo(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	var cm *corev1.ConfigMap
	var err error
	eventually(t, "the apiserver to create kube-public/cluster-info", func() bool {
		cm, err = c.client.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "cluster-info", metav1.GetOptions{})
		return err == nil
	})
	return cm
}

// sign adds a JWS of cluster-info's kubeconfig for a token, as the
// bootstrap signer would (made with secret, which may be the wrong one).
func (c *cluster) sign(t *testing.T, id, secret string) {
	t.Helper()
	cm := c.clusterInfo(t)
	sig, err := jws.ComputeDetachedSignature(cm.Data["kubeconfig"], id, secret)
	if err != nil {
		t.Fatal(err)
	}
	patch, _ := json.Marshal(map[string]any{"data": map[string]string{"jws-kubeconfig-" + id: sig}})
	if _, err := c.client.CoreV1().ConfigMaps("kube-public").Patch(context.Background(), "cluster-info", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestJoinDiscovery runs `ctl join` against a real apiserver through
// every check discovery makes that needs no bootstrap signer (the test
// signs cluster-info itself) and no kubelet (--start=false).
func TestJoinDiscovery(t *testing.T) {
	c := startCluster(t, advertiseLoopback)
	k := ctl(t, c)
	cm := c.clusterInfo(t)
	m := joinLine.FindStringSubmatch(strings.TrimSpace(k.ok(t, "token", "create", "--print-join-command")))
	if m == nil {
		t.Fatal("token create --print-join-command printed no join command")
	}
	endpoint, id, secret, hash := m[1], m[2], m[3], m[4]
	token := id + "." + secret
	join := func(t *testing.T, dir string, args ...string) result {
		t.Helper()
		base := []string{"join", endpoint, "--token", token, "--config-dir", dir, "--start=false", "--discovery-timeout", "5s", "--node-name", "node-2"}
		return k.run(t, append(base, args...)...)
	}
	refused := func(t *testing.T, r result, dir, want string) {
		t.Helper()
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Fatalf("want exit 1 and %q; got %s", want, r)
		}
		if files := dirFiles(t, dir); len(files) > 0 {
			t.Errorf("a refused join wrote %q", files)
		}
	}

	t.Run("no JWS for the token: refused, nothing written", func(t *testing.T) {
		dir := t.TempDir()
		refused(t, join(t, dir, "--discovery-token-ca-cert-hash", hash), dir,
			fmt.Sprintf(`error: couldn't validate the identity of the API Server: there is no JWS signed token in the cluster-info ConfigMap. This token id %q is invalid for this cluster, or it has expired. Use "ctl token create" on the control-plane node to create a new valid token`, id))
	})

	t.Run("badly shaped token: refused before any request", func(t *testing.T) {
		dir := t.TempDir()
		r := k.run(t, "join", endpoint, "--token", "abcdef", "--discovery-token-ca-cert-hash", hash, "--config-dir", dir, "--start=false")
		refused(t, r, dir, `error: the bootstrap token "abcdef" was not of the form`)
		if strings.Contains(r.stdout, "Requesting") {
			t.Errorf("a request was made: %s", r)
		}
	})

	t.Run("JWS signed with another secret: refused", func(t *testing.T) {
		c.sign(t, "wrongs", "ffffffffffffffff")
		dir := t.TempDir()
		r := k.run(t, "join", endpoint, "--token", "wrongs.0123456789abcdef", "--discovery-token-ca-cert-hash", hash, "--config-dir", dir, "--start=false", "--discovery-timeout", "5s")
		refused(t, r, dir, "failed to verify JWS signature of received cluster info object, can't trust this API Server")
	})

	c.sign(t, id, secret)

	t.Run("wrong CA hash: refused, nothing written", func(t *testing.T) {
		dir := t.TempDir()
		wrong := "sha256:" + strings.Repeat("0", 64)
		refused(t, join(t, dir, "--discovery-token-ca-cert-hash", wrong), dir,
			fmt.Sprintf("cluster CA found in cluster-info ConfigMap is not trusted: public key %s not pinned", hash))
	})

	t.Run("no hash and no skip: refused", func(t *testing.T) {
		dir := t.TempDir()
		refused(t, join(t, dir), dir, "using token-based discovery without --discovery-token-ca-cert-hash can be unsafe")
	})

	t.Run("right hash: the node's files are written", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "etc", "coracle")
		r := join(t, dir, "--discovery-token-ca-cert-hash", hash, "--node-ip", "172.31.250.12")
		if r.code != 0 {
			t.Fatalf("join: %s", r)
		}
		if want := []string{"bootstrap-kubelet.conf", "kubelet.env", "pki/ca.crt"}; !slices.Equal(dirFiles(t, dir), want) {
			t.Fatalf("files %q, want %q", dirFiles(t, dir), want)
		}
		if !strings.Contains(r.stdout, "systemctl enable --now coracle-kubelet.service coracle-kube-proxy.service") {
			t.Errorf("join did not say what to start:\n%s", r.stdout)
		}
		ca, _ := os.ReadFile(filepath.Join(dir, "pki/ca.crt"))
		if string(ca) != string(c.ts.Config.CAData) {
			t.Errorf("ca.crt is not the cluster's CA:\n%s", ca)
		}
		cfg, err := clientcmd.LoadFromFile(filepath.Join(dir, "bootstrap-kubelet.conf"))
		if err != nil {
			t.Fatal(err)
		}
		infoCfg, err := clientcmd.Load([]byte(cm.Data["kubeconfig"]))
		if err != nil {
			t.Fatal(err)
		}
		var infoServer string
		for _, cl := range infoCfg.Clusters {
			infoServer = cl.Server
		}
		if cl := cfg.Clusters["kubernetes"]; cl == nil || cl.Server != infoServer || string(cl.CertificateAuthorityData) != string(c.ts.Config.CAData) {
			t.Errorf("bootstrap kubeconfig cluster %+v, want server %s and the CA", cl, infoServer)
		}
		if u := cfg.AuthInfos["tls-bootstrap-token-user"]; u == nil || u.Token != token {
			t.Errorf("bootstrap kubeconfig user %+v", u)
		}
		env, _ := os.ReadFile(filepath.Join(dir, "kubelet.env"))
		if !strings.Contains(string(env), "\nCORACLE_NODE_NAME=node-2\nCORACLE_NODE_IP=172.31.250.12\n") {
			t.Errorf("kubelet.env:\n%s", env)
		}
		// The token authenticates as the bootstrapper it is.
		restCfg, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		if restCfg.BearerToken != token {
			t.Errorf("bearer token %q", restCfg.BearerToken)
		}
	})
}

// csrPEM is a PEM certificate request for a client certificate of user.
func csrPEM(t *testing.T, user string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: user, Organization: []string{"e2e"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func (c *cluster) createCSR(t *testing.T, name string) {
	t.Helper()
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrPEM(t, name),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().Create(context.Background(), csr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// decisions are a CSR's conditions as type/reason/message.
func (c *cluster) decisions(t *testing.T, name string) []string {
	t.Helper()
	csr, err := c.client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, cond := range csr.Status.Conditions {
		out = append(out, fmt.Sprintf("%s/%s/%s/%s", cond.Type, cond.Status, cond.Reason, cond.Message))
	}
	return out
}

// TestCertificateParity approves and denies CSRs with ctl and with the
// real kubectl and compares what each printed and stored.
func TestCertificateParity(t *testing.T) {
	c := startCluster(t)
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatalf("the apiserver does not serve certificates.k8s.io/v1 certificatesigningrequests: %v", err)
	}
	tools := []*cli{ctl(t, c), kubectl(t, c)}
	approved := "Approved/True/KubectlApprove/This CSR was approved by kubectl certificate approve."
	denied := "Denied/True/KubectlDeny/This CSR was denied by kubectl certificate deny."
	for _, tool := range tools {
		t.Run(tool.name, func(t *testing.T) {
			a, b := "csr-"+tool.name+"-a", "csr-"+tool.name+"-b"
			c.createCSR(t, a)
			c.createCSR(t, b)
			tool.says(t, "certificatesigningrequest.certificates.k8s.io/"+a+" approved", "certificate", "approve", a)
			tool.says(t, "certificatesigningrequest.certificates.k8s.io/"+b+" denied", "certificate", "deny", b)
			if got := c.decisions(t, a); !slices.Equal(got, []string{approved}) {
				t.Errorf("%s conditions %q", a, got)
			}
			if got := c.decisions(t, b); !slices.Equal(got, []string{denied}) {
				t.Errorf("%s conditions %q", b, got)
			}
			// A decision made stays: again is a no-op, even forced; the
			// opposite is refused, even forced.
			tool.says(t, "certificatesigningrequest.certificates.k8s.io/"+a+" approved", "certificate", "approve", a)
			tool.says(t, "certificatesigningrequest.certificates.k8s.io/"+a+" approved", "certificate", "approve", a, "--force")
			tool.fails(t, fmt.Sprintf("error: certificate signing request %q is already Denied", b), "certificate", "approve", b)
			tool.fails(t, fmt.Sprintf("error: certificate signing request %q is already Approved", a), "certificate", "deny", a, "--force")
			if got := c.decisions(t, a); !slices.Equal(got, []string{approved}) {
				t.Errorf("%s conditions after the repeats %q", a, got)
			}
			tool.fails(t, `Error from server (NotFound): certificatesigningrequests.certificates.k8s.io "nope" not found`, "certificate", "approve", "nope")
			tool.says(t, "certificatesigningrequest.certificates.k8s.io/"+b, "certificate", "deny", b, "-o", "name")
			tool.fails(t, "error: one or more CSRs must be specified as <name> or -f <filename>", "certificate", "approve")
			// -f names the request by its manifest; the server's copy is
			// the one decided on.
			f := "csr-" + tool.name + "-f"
			c.createCSR(t, f)
			path := writeFile(t, "csr.yaml", "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: "+f+"\n")
			tool.says(t, "certificatesigningrequest.certificates.k8s.io/"+f+" approved", "certificate", "approve", "-f", path)
			if got := c.decisions(t, f); !slices.Equal(got, []string{approved}) {
				t.Errorf("%s conditions %q", f, got)
			}
		})
	}

	t.Run("get csr prints kubectl's table", func(t *testing.T) {
		maskAge := regexp.MustCompile(`\b[0-9]+[smhd]([0-9]+[smh])?\b`)
		for _, args := range [][]string{{"get", "csr"}, {"get", "certificatesigningrequests", "csr-ctl-a", "-o", "wide"}} {
			got, want := tools[0].ok(t, args...), tools[1].ok(t, args...)
			if maskAge.ReplaceAllString(got, "AGE") != maskAge.ReplaceAllString(want, "AGE") {
				t.Errorf("ctl %q printed:\n%s\nkubectl printed:\n%s", args, got, want)
			}
		}
		for _, col := range []string{"NAME", "AGE", "SIGNERNAME", "REQUESTOR", "CONDITION"} {
			if tb := parseTable(tools[0].ok(t, "get", "csr")); !slices.Contains(tb.header, col) {
				t.Errorf("columns %q lack %s", tb.header, col)
			}
		}
		for _, name := range []string{"csr-ctl-a", "csr-kubectl-b"} {
			got, want := tools[0].ok(t, "describe", "csr", name), tools[1].ok(t, "describe", "csr", name)
			if got != want {
				t.Errorf("ctl describe csr %s printed:\n%s\nkubectl printed:\n%s", name, got, want)
			}
		}
	})
}
