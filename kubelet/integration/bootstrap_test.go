package integration

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/pki"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testproc"
	"coracle.dev/shared/testserver"
)

// bootstrapToken creates a bootstrap token Secret, as `ctl token create`
// does, and returns the token.
func bootstrapToken(t *testing.T, client kubernetes.Interface) (id, token string) {
	t.Helper()
	id, secret := randHex(6), randHex(16)
	s := &v1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: metav1.NamespaceSystem},
		Type:       "bootstrap.kubernetes.io/token",
		StringData: map[string]string{
			"token-id": id, "token-secret": secret,
			"expiration":                     time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true",
			"auth-extra-groups":              "system:bootstrappers:kubeadm:default-node-token",
		},
	}
	if _, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return id, id + "." + secret
}

// signCSR issues the certificate a CSR asks for with the cluster CA, as
// the controller manager's csrsigning does, valid from age ago for an
// hour more.
func signCSR(t *testing.T, ca *pki.KeyPair, csr *certificatesv1.CertificateSigningRequest, age time.Duration) []byte {
	t.Helper()
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		t.Fatalf("CSR %s: no PEM request", csr.Name)
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: req.Subject, DNSNames: req.DNSNames, IPAddresses: req.IPAddresses,
		NotBefore: time.Now().Add(-age), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	for _, u := range csr.Spec.Usages {
		switch u {
		case certificatesv1.UsageClientAuth:
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		case certificatesv1.UsageServerAuth:
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, req.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// approveAndSign plays the controller manager for one CSR: approves it
// (the approval subresource) and writes its certificate (status), valid
// from age ago for an hour more.
func approveAndSign(t *testing.T, client kubernetes.Interface, ca *pki.KeyPair, csr *certificatesv1.CertificateSigningRequest, age time.Duration) {
	t.Helper()
	ctx := context.Background()
	csr = csr.DeepCopy()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: v1.ConditionTrue, Reason: "AutoApproved", Message: "approved by the test",
	})
	approved, err := client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("approve %s: %v", csr.Name, err)
	}
	approved.Status.Certificate = signCSR(t, ca, approved, age)
	if _, err := client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, approved, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("sign %s: %v", csr.Name, err)
	}
}

// waitCSR waits for a CSR of the signer not yet decided, and returns it.
func waitCSR(t *testing.T, client kubernetes.Interface, signer string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	var found *certificatesv1.CertificateSigningRequest
	eventually(t, 60*time.Second, "a CSR for "+signer, func() (bool, error) {
		list, err := client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range list.Items {
			if c := &list.Items[i]; c.Spec.SignerName == signer && len(c.Status.Conditions) == 0 {
				found = c
				return true, nil
			}
		}
		return false, fmt.Errorf("%d CSRs, none pending for %s", len(list.Items), signer)
	})
	return found
}

func csrsOf(t *testing.T, client kubernetes.Interface, signer string) []string {
	t.Helper()
	list, err := client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list.Items {
		if c.Spec.SignerName == signer {
			out = append(out, c.Name)
		}
	}
	return out
}

// TestTLSBootstrap runs bin/kubelet as `ctl join` sets it up, with a
// bootstrap token kubeconfig and no kubeconfig of its own, against a
// real apiserver; the test approves and signs its CSRs with the cluster
// CA in place of the controller manager. The kubelet gets its client
// certificate, writes its kubeconfig, registers its Node, gets its
// serving certificate once registered, and after a restart runs on its
// own credential though the token is gone. The fake runtime: the
// bootstrap does not depend on the containers.
func TestTLSBootstrap(t *testing.T) {
	ts := testserver.Start(t)
	admin := clientFor(t, ts)
	ctx := context.Background()
	ca, err := pki.Load(filepath.Join(ts.DataDir, "pki"), "ca")
	if err != nil {
		t.Fatalf("cluster CA in the apiserver's data dir: %v", err)
	}
	tokenID, token := bootstrapToken(t, admin)
	dir := t.TempDir()
	bootstrapPath := filepath.Join(dir, "bootstrap-kubelet.conf")
	if err := kubeconfig.Write(bootstrapPath, kubeconfig.Credentials{
		ClusterName: "coracle", Server: ts.URL(), CAData: ca.CertPEM, UserName: "tls-bootstrap-token-user", Token: token,
	}); err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(dir, "kubelet.conf")
	root := filepath.Join(dir, "kubelet")
	name := "boot-" + randHex(6)
	args := []string{
		"--kubeconfig", kubeconfigPath, "--bootstrap-kubeconfig", bootstrapPath, "--rotate-server-certificates",
		"--node-name", name, "--root-dir", root, "--runtime", "fake", "--node-ip", "127.0.0.1",
		"--port", "0", "--status-address", "127.0.0.1:0", "--node-lease-renew-interval", "1s",
		"--log-level", "info", "--log-format", "console",
	}
	kubelet := testproc.Start(t, "kubelet", testbin.Path(t, "kubelet"), args...)

	// The client CSR: the node's subject, sent with the token.
	csr := waitCSR(t, admin, certificatesv1.KubeAPIServerClientKubeletSignerName)
	if !strings.HasPrefix(csr.Name, "node-csr-") {
		t.Errorf("client CSR name %q, want node-csr-<digest>", csr.Name)
	}
	if csr.Spec.Username != "system:bootstrap:"+tokenID || !slices.Contains(csr.Spec.Groups, "system:bootstrappers") {
		t.Errorf("client CSR from %q in %q, want system:bootstrap:%s in system:bootstrappers", csr.Spec.Username, csr.Spec.Groups, tokenID)
	}
	if !slices.Equal(csr.Spec.Usages, []certificatesv1.KeyUsage{"digital signature", "client auth"}) {
		t.Errorf("client CSR usages %q", csr.Spec.Usages)
	}
	approveAndSign(t, admin, ca, csr, time.Minute)

	// The kubeconfig: the bootstrap's server and CA, the certificate
	// file, no token.
	pemPath := filepath.Join(root, "pki", "kubelet-client-current.pem")
	eventually(t, 60*time.Second, "the kubeconfig written", func() (bool, error) {
		_, err := os.Stat(kubeconfigPath)
		return err == nil, err
	})
	cfg, err := clientcmd.LoadFromFile(kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cluster, user := cfg.Clusters["default-cluster"], cfg.AuthInfos["default-auth"]
	if cluster == nil || cluster.Server != ts.URL() || string(cluster.CertificateAuthorityData) != string(ca.CertPEM) {
		t.Errorf("kubeconfig cluster %+v", cluster)
	}
	if user == nil || user.ClientCertificate != pemPath || user.ClientKey != pemPath || user.Token != "" {
		t.Errorf("kubeconfig user %+v, want client-certificate and client-key %s and no token", user, pemPath)
	}
	if fi, err := os.Stat(kubeconfigPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(pemPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode: %v %v", pemPath, fi.Mode(), err)
	}
	pair, err := tls.LoadX509KeyPair(pemPath, pemPath)
	if err != nil {
		t.Fatalf("%s holds no certificate and key: %v", pemPath, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "system:node:"+name || !slices.Equal(leaf.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("client certificate subject %v", leaf.Subject)
	}

	// The Node, registered with that credential.
	var node *v1.Node
	eventually(t, 60*time.Second, "the node registered", func() (bool, error) {
		node, err = admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		return err == nil, err
	})

	// The serving certificate, asked for once the Node exists, for its
	// addresses.
	serving := waitCSR(t, admin, certificatesv1.KubeletServingSignerName)
	block, _ := pem.Decode(serving.Spec.Request)
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if req.Subject.CommonName != "system:node:"+name || len(req.IPAddresses) != 1 || req.IPAddresses[0].String() != "127.0.0.1" ||
		!slices.Equal(req.DNSNames, []string{host}) {
		t.Errorf("serving CSR: subject %v, IPs %v, DNS %v; want system:node:%s, 127.0.0.1, %s", req.Subject, req.IPAddresses, req.DNSNames, name, host)
	}
	if !slices.Equal(serving.Spec.Usages, []certificatesv1.KeyUsage{"digital signature", "server auth"}) {
		t.Errorf("serving CSR usages %q", serving.Spec.Usages)
	}
	if serving.Spec.Username != "system:node:"+name {
		t.Errorf("serving CSR from %q, want the node itself", serving.Spec.Username)
	}
	approveAndSign(t, admin, ca, serving, time.Minute)
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	eventually(t, 60*time.Second, "the kubelet API presenting the issued certificate", func() (bool, error) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: ca.CertPool(), ServerName: "127.0.0.1"})
		if err != nil {
			return false, err
		}
		defer conn.Close()
		got := conn.ConnectionState().PeerCertificates[0]
		if got.Subject.CommonName != "system:node:"+name {
			return false, fmt.Errorf("serving certificate of %v", got.Subject)
		}
		return true, nil
	})

	// A restart: the token is gone, the kubelet runs on its certificate.
	if err := kubelet.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop kubelet: %v", err)
	}
	if err := admin.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, "bootstrap-token-"+tokenID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	written, _ := os.Stat(kubeconfigPath)
	restarted := testproc.Start(t, "kubelet-restarted", testbin.Path(t, "kubelet"), args...)
	since := time.Now()
	renewals := 0
	var last time.Time
	eventually(t, 60*time.Second, "the restarted kubelet renewing its Lease", func() (bool, error) {
		if restarted.Exited() {
			t.Fatalf("the restarted kubelet exited: %s", restarted.ExitDescription())
		}
		lease, err := admin.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if renew := leaseRenewTime(lease); renew.After(since) && !renew.Equal(last) {
			renewals, last = renewals+1, renew
		}
		return renewals >= 2, fmt.Errorf("%d renewals since the restart", renewals)
	})
	if now, _ := os.Stat(kubeconfigPath); !now.ModTime().Equal(written.ModTime()) {
		t.Error("the restarted kubelet rewrote its kubeconfig")
	}
	if got := csrsOf(t, admin, certificatesv1.KubeAPIServerClientKubeletSignerName); len(got) != 1 {
		t.Errorf("client CSRs after the restart: %q, want the first only", got)
	}
	if got := csrsOf(t, admin, certificatesv1.KubeletServingSignerName); len(got) != 1 {
		t.Errorf("serving CSRs after the restart: %q, want the first only", got)
	}
}

func leaseRenewTime(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Time
}

// TestTLSBootstrapRefusedToken: a kubelet whose bootstrap token the
// apiserver does not accept stops with an error that says so, and
// registers nothing.
func TestTLSBootstrapRefusedToken(t *testing.T) {
	ts := testserver.Start(t)
	admin := clientFor(t, ts)
	ca, err := pki.Load(filepath.Join(ts.DataDir, "pki"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	tokenID, _ := bootstrapToken(t, admin)
	dir := t.TempDir()
	bootstrapPath := filepath.Join(dir, "bootstrap-kubelet.conf")
	if err := kubeconfig.Write(bootstrapPath, kubeconfig.Credentials{
		ClusterName: "coracle", Server: ts.URL(), CAData: ca.CertPEM, UserName: "tls-bootstrap-token-user",
		Token: tokenID + "." + randHex(16), // the right ID, a wrong secret
	}); err != nil {
		t.Fatal(err)
	}
	name := "refused-" + randHex(6)
	kubelet := testproc.Start(t, "kubelet", testbin.Path(t, "kubelet"),
		"--kubeconfig", filepath.Join(dir, "kubelet.conf"), "--bootstrap-kubeconfig", bootstrapPath,
		"--node-name", name, "--root-dir", filepath.Join(dir, "kubelet"), "--runtime", "fake",
		"--port", "0", "--status-address", "127.0.0.1:0", "--log-format", "console")
	select {
	case <-kubelet.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("the kubelet with a wrong token still runs after 60s")
	}
	if kubelet.ExitCode() == 0 {
		t.Errorf("exit status 0 with a wrong token")
	}
	if !testproc.LogContains(kubelet.LogPath(), "401 Unauthorized") || !testproc.LogContains(kubelet.LogPath(), "bootstrap token") {
		t.Errorf("the error does not name the cause:\n%s", testproc.LogTail(kubelet.LogPath(), 20))
	}
	if _, err := admin.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node %s: %v, want none registered", name, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kubelet.conf")); !os.IsNotExist(err) {
		t.Errorf("a kubeconfig was written: %v", err)
	}
}

// TestClientCertificateRotation: with --rotate-certificates, a client
// certificate past 70–90 % of its life is renewed with a CSR the node
// sends with its own credential; the new certificate replaces the old in
// the file the kubeconfig names, and the kubelet runs on.
func TestClientCertificateRotation(t *testing.T) {
	ts := testserver.Start(t)
	admin := clientFor(t, ts)
	ca, err := pki.Load(filepath.Join(ts.DataDir, "pki"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	_, token := bootstrapToken(t, admin)
	dir := t.TempDir()
	bootstrapPath := filepath.Join(dir, "bootstrap-kubelet.conf")
	if err := kubeconfig.Write(bootstrapPath, kubeconfig.Credentials{
		ClusterName: "coracle", Server: ts.URL(), CAData: ca.CertPEM, UserName: "tls-bootstrap-token-user", Token: token,
	}); err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(dir, "kubelet.conf")
	root := filepath.Join(dir, "kubelet")
	name := "rotate-" + randHex(6)
	testproc.Start(t, "kubelet", testbin.Path(t, "kubelet"),
		"--kubeconfig", kubeconfigPath, "--bootstrap-kubeconfig", bootstrapPath, "--rotate-certificates",
		"--node-name", name, "--root-dir", root, "--runtime", "fake", "--node-ip", "127.0.0.1",
		"--port", "0", "--status-address", "127.0.0.1:0", "--node-lease-renew-interval", "1s",
		"--log-level", "info", "--log-format", "console")

	// Issued 9 hours into a 10-hour life: past the renewal point.
	approveAndSign(t, admin, ca, waitCSR(t, admin, certificatesv1.KubeAPIServerClientKubeletSignerName), 9*time.Hour)
	eventually(t, 60*time.Second, "the kubeconfig written", func() (bool, error) {
		_, err := os.Stat(kubeconfigPath)
		return err == nil, err
	})
	written, _ := os.Stat(kubeconfigPath)
	pemPath := filepath.Join(root, "pki", "kubelet-client-current.pem")
	first, err := leafOf(pemPath)
	if err != nil {
		t.Fatal(err)
	}

	renewal := waitCSR(t, admin, certificatesv1.KubeAPIServerClientKubeletSignerName)
	if renewal.Spec.Username != "system:node:"+name || !slices.Contains(renewal.Spec.Groups, "system:nodes") {
		t.Errorf("renewal CSR from %q in %q, want the node itself", renewal.Spec.Username, renewal.Spec.Groups)
	}
	if !slices.Equal(renewal.Spec.Usages, []certificatesv1.KeyUsage{"digital signature", "client auth"}) {
		t.Errorf("renewal CSR usages %q", renewal.Spec.Usages)
	}
	approveAndSign(t, admin, ca, renewal, time.Minute)
	eventually(t, 60*time.Second, "the renewed certificate in "+pemPath, func() (bool, error) {
		// client-go's store names a certificate's file by the second it
		// was written in and rewrites that file in place: a renewal in
		// the same second as the first certificate is read half-written.
		leaf, err := leafOf(pemPath)
		if err != nil {
			return false, err
		}
		if leaf.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return false, fmt.Errorf("still the first certificate")
		}
		if leaf.Subject.CommonName != "system:node:"+name {
			return false, fmt.Errorf("renewed certificate of %v", leaf.Subject)
		}
		return true, nil
	})
	if now, _ := os.Stat(kubeconfigPath); !now.ModTime().Equal(written.ModTime()) {
		t.Error("the kubeconfig was rewritten: it should name the file the renewal updates")
	}
	since := time.Now()
	eventually(t, 60*time.Second, "the Lease renewed after the rotation", func() (bool, error) {
		lease, err := admin.CoordinationV1().Leases("kube-node-lease").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return leaseRenewTime(lease).After(since), nil
	})
}

// leafOf is the first certificate of a PEM file that holds a pair.
func leafOf(path string) (*x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(path, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x509.ParseCertificate(pair.Certificate[0])
}
