package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"

	"coracle.dev/shared/kubeconfig"
)

// ctl certs checks and renews the PKI the apiserver made in its data
// directory, and the apiserver runs on the renewed certificates after a
// restart.
func TestCerts(t *testing.T) {
	c := startCluster(t)
	ctl := ctl(t, c)
	pkiDir := filepath.Join(c.ts.DataDir, "pki")
	dirs := []string{"--cert-dir", pkiDir, "--kubeconfig-dir", c.ts.DataDir}
	certs := func(args ...string) string {
		t.Helper()
		return ctl.ok(t, append(append([]string{"certs"}, args...), dirs...)...)
	}

	// Every certificate the apiserver made, a year each; its CAs ten.
	checkExpiration := func() {
		t.Helper()
		out := certs("check-expiration")
		leafTable, caTable, ok := strings.Cut(out, "\n\n")
		if !ok {
			t.Fatalf("check-expiration printed one table:\n%s", out)
		}
		leaves := parseTable(leafTable)
		wantCA := map[string]string{
			"admin.conf": "ca", "apiserver": "ca", "apiserver-etcd-client": "etcd-ca", "apiserver-kubelet-client": "ca",
			"controller-manager.conf": "ca", "etcd-peer": "etcd-ca", "etcd-server": "etcd-ca", "kube-proxy.conf": "ca", "scheduler.conf": "ca",
		}
		want := []string{"admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "controller-manager.conf", "etcd-peer", "etcd-server", "kube-proxy.conf", "scheduler.conf"}
		if got := leaves.column("CERTIFICATE"); !slices.Equal(got, want) {
			t.Fatalf("certificates %v, want %v\n%s", got, want, out)
		}
		for _, r := range leaves.rows {
			if r["RESIDUAL TIME"] != "364d" || r["CERTIFICATE AUTHORITY"] != wantCA[r["CERTIFICATE"]] || r["EXTERNALLY MANAGED"] != "no" || !strings.HasSuffix(r["EXPIRES"], " UTC") {
				t.Errorf("row %v\n%s", r, out)
			}
		}
		cas := parseTable(caTable)
		if got := cas.column("CERTIFICATE AUTHORITY"); !slices.Equal(got, []string{"ca", "etcd-ca"}) {
			t.Fatalf("authorities %v\n%s", got, out)
		}
		for _, r := range cas.rows {
			if r["RESIDUAL TIME"] != "9y" || r["EXTERNALLY MANAGED"] != "no" {
				t.Errorf("CA row %v\n%s", r, out)
			}
		}
	}
	checkExpiration()

	oldAdmin := embeddedCert(t, c.ts.Kubeconfig)
	if out := certs("renew", "admin.conf"); out != "certificate embedded in the kubeconfig file for the admin to use and for ctl itself renewed\n" {
		t.Fatalf("renew admin.conf printed %q", out)
	}
	admin := embeddedCert(t, c.ts.Kubeconfig)
	if admin.SerialNumber.Cmp(oldAdmin.SerialNumber) == 0 || admin.Subject.CommonName != "kubernetes-admin" || !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
		t.Fatalf("admin.conf embeds %s %v serial %s; was serial %s", admin.Subject.CommonName, admin.Subject.Organization, admin.SerialNumber, oldAdmin.SerialNumber)
	}
	// The running apiserver takes it: same CA.
	if code := getAPI(t, c.ts.Kubeconfig); code != http.StatusOK {
		t.Fatalf("GET /api with the renewed admin.conf: %d", code)
	}
	ctl.ok(t, "get", "namespaces")

	out := certs("renew", "all")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 11 || lines[9] != "" || !strings.HasPrefix(lines[10], "Done renewing certificates. You must restart the coracle-apiserver") {
		t.Fatalf("renew all printed:\n%s", out)
	}
	for _, l := range lines[:9] {
		if !strings.HasSuffix(l, " renewed") {
			t.Errorf("renew all: %q", l)
		}
	}
	admin = embeddedCert(t, c.ts.Kubeconfig)
	serving := fileCert(t, filepath.Join(pkiDir, "apiserver.crt"))
	etcdServing := fileCert(t, filepath.Join(pkiDir, "etcd", "server.crt"))

	// At its start the apiserver writes admin.conf from the renewed
	// pki/admin pair, its embedded etcd serves the renewed certificate
	// (and takes the renewed client one) and so does the apiserver.
	c.ts.Restart()
	if got := embeddedCert(t, c.ts.Kubeconfig); got.SerialNumber.Cmp(admin.SerialNumber) != 0 {
		t.Fatalf("after the restart admin.conf embeds serial %s, want the renewed %s", got.SerialNumber, admin.SerialNumber)
	}
	if code := getAPI(t, c.ts.Kubeconfig); code != http.StatusOK {
		t.Fatalf("GET /api with the renewed admin.conf after a restart: %d", code)
	}
	if got := servingCert(t, c.ts.EtcdClientURL); got.SerialNumber.Cmp(etcdServing.SerialNumber) != 0 {
		t.Errorf("etcd serves serial %s, want the renewed %s", got.SerialNumber, etcdServing.SerialNumber)
	}
	// The apiserver issues its serving certificate again when the host's
	// addresses changed since (other tests' interfaces come and go):
	// only then may it serve another.
	if got := servingCert(t, c.ts.URL()); got.SerialNumber.Cmp(serving.SerialNumber) != 0 && slices.EqualFunc(got.IPAddresses, serving.IPAddresses, net.IP.Equal) {
		t.Errorf("the apiserver serves serial %s, want the renewed %s", got.SerialNumber, serving.SerialNumber)
	}
	ctl.ok(t, "get", "namespaces")
	checkExpiration()
}

// fileCert is the first certificate of the PEM file at path.
func fileCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := certutil.CertsFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// embeddedCert is the client certificate the kubeconfig at path embeds.
func embeddedCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	user := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo]
	certs, err := certutil.ParseCertsPEM(user.ClientCertificateData)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return certs[0]
}

// getAPI requests /api with the kubeconfig's credentials, the server
// verified with its CA, and returns the status code.
func getAPI(t *testing.T, path string) int {
	t.Helper()
	cfg, err := kubeconfig.RESTConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/api", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /api: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// servingCert is the certificate the server at url presents.
func servingCert(t *testing.T, url string) *x509.Certificate {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/")
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reads the certificate presented
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}
