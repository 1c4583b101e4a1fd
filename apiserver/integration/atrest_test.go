package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// etcdClient reaches the apiserver's embedded etcd with the apiserver's
// own etcd client certificate: nothing else is let in.
func etcdClient(t *testing.T, c *cluster, withCert bool) *clientv3.Client {
	t.Helper()
	pkiDir := filepath.Join(c.DataDir, "pki")
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "etcd", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if withCert {
		pair, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "apiserver-etcd-client.crt"), filepath.Join(pkiDir, "apiserver-etcd-client.key"))
		if err != nil {
			t.Fatal(err)
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Cfg.EmbeddedEtcdClientURL}, TLS: tlsCfg, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestSecretsEncryptedAtRest: a Secret's value is ciphertext in etcd
// (the key the apiserver made on first start), a ConfigMap's is not, the
// API reads the Secret back in clear, and etcd refuses a client without
// the apiserver's certificate.
func TestSecretsEncryptedAtRest(t *testing.T) {
	c := start(t)
	createNamespace(t, c, "enc")
	const value = "correct-horse-battery-staple"
	if _, err := c.client.CoreV1().Secrets("enc").Create(ctx(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"password": value},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().ConfigMaps("enc").Create(ctx(t), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": value},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cli := etcdClient(t, c, true)
	resp, err := cli.Get(ctx(t), "/registry/secrets/enc/s")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read the secret from etcd: %v %v", resp, err)
	}
	raw := string(resp.Kvs[0].Value)
	if !strings.HasPrefix(raw, "k8s:enc:aescbc:v1:key1:") || strings.Contains(raw, value) || strings.Contains(raw, "cGFzc3dvcmQ") {
		t.Errorf("secret in etcd is not aescbc ciphertext: %q", raw[:min(len(raw), 80)])
	}
	resp, err = cli.Get(ctx(t), "/registry/configmaps/enc/cm")
	if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), value) {
		t.Errorf("configmap in etcd: %v %v", resp, err)
	}
	got, err := c.client.CoreV1().Secrets("enc").Get(ctx(t), "s", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != value {
		t.Errorf("secret through the API: %v %v", got, err)
	}

	plain := etcdClient(t, c, false)
	cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := plain.Get(cctx, "/registry/secrets/enc/s"); err == nil {
		t.Error("etcd answered a client without a certificate")
	}

	// A restart reads it back with the same key.
	c.Restart()
	c = newCluster(t, c.TestServer)
	got, err = c.client.CoreV1().Secrets("enc").Get(ctx(t), "s", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != value {
		t.Errorf("secret after a restart: %v %v", got, err)
	}
}

// TestAuditLog: who did what to which object with what answer, as JSON
// lines of audit.k8s.io/v1 Events; a Secret's body never reaches the log.
func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
- level: Metadata
  resources: [{group: "", resources: [secrets]}]
- level: RequestResponse
  resources: [{group: "", resources: [configmaps]}]
- level: Metadata
`), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.log")
	c := start(t, servertest.WithConfig(func(cfg *server.Config) {
		cfg.AuditPolicyFile, cfg.AuditLogPath = policy, logPath
	}))
	createNamespace(t, c, "aud")
	if _, err := c.client.CoreV1().ConfigMaps("aud").Create(ctx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.client.CoreV1().ConfigMaps("aud").Delete(ctx(t), "cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Secrets("aud").Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"p": "hunter2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	find := func(verb, resource, name string) *auditv1.Event {
		f, err := os.Open(logPath)
		if err != nil {
			return nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev auditv1.Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				t.Fatalf("audit line is not an Event: %s", sc.Text())
			}
			if ev.Verb == verb && ev.ObjectRef != nil && ev.ObjectRef.Resource == resource && ev.ObjectRef.Name == name && ev.Stage == auditv1.StageResponseComplete {
				return &ev
			}
		}
		return nil
	}
	var created, deleted, secret *auditv1.Event
	defer func() {
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("audit log:\n%s", data)
		}
	}()
	eventually(t, 10*time.Second, "the audit events", func() (bool, error) {
		created, deleted, secret = find("create", "configmaps", "cm"), find("delete", "configmaps", "cm"), find("create", "secrets", "s")
		return created != nil && deleted != nil && secret != nil, nil
	})
	if created.User.Username != "kubernetes-admin" || created.ResponseStatus == nil || created.ResponseStatus.Code != 201 ||
		created.ObjectRef.Namespace != "aud" || created.RequestObject == nil || created.ResponseObject == nil || created.Level != auditv1.LevelRequestResponse {
		t.Errorf("create event %+v", created)
	}
	if deleted.ResponseStatus == nil || deleted.ResponseStatus.Code != 200 {
		t.Errorf("delete event %+v", deleted)
	}
	if secret.Level != auditv1.LevelMetadata || secret.RequestObject != nil || secret.ResponseObject != nil {
		t.Errorf("secret event carries bodies: %+v", secret)
	}
	data, _ := os.ReadFile(logPath)
	if strings.Contains(string(data), "hunter2") || strings.Contains(string(data), "aHVudGVyMg") {
		t.Error("a Secret's value reached the audit log")
	}
	if strings.Contains(string(data), `"/readyz"`) {
		t.Error("health checks logged despite level None")
	}
}
