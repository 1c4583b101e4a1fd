package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/pki"
)

// testPKI is a control plane's PKI and kubeconfigs in a temporary
// directory, made as the apiserver makes them.
type testPKI struct {
	dirs
	ca, etcdCA *pki.KeyPair
}

// newTestPKI issues every certificate for validity, short enough that a
// renewal (for pki's default year) ends later.
func newTestPKI(t *testing.T, validity time.Duration) *testPKI {
	t.Helper()
	root := t.TempDir()
	p := &testPKI{dirs: dirs{cert: filepath.Join(root, "pki"), kubeconfig: root}}
	var err error
	if p.ca, err = pki.NewCA("coracle-ca"); err != nil {
		t.Fatal(err)
	}
	if err := p.ca.Write(p.cert, "ca"); err != nil {
		t.Fatal(err)
	}
	if p.etcdCA, err = pki.NewCA("etcd-ca"); err != nil {
		t.Fatal(err)
	}
	if err := p.etcdCA.Write(filepath.Join(p.cert, "etcd"), "ca"); err != nil {
		t.Fatal(err)
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	masters := []string{"system:masters"}
	issue := []struct {
		ca       *pki.KeyPair
		baseName string
		req      pki.Request
		conf     string // kubeconfig that embeds the pair
		user     string
	}{
		{p.ca, "apiserver", pki.Request{CommonName: "coracle-apiserver", DNSNames: []string{"localhost", "kubernetes", "kubernetes.default.svc"}, IPs: append(loopback, net.ParseIP("10.96.0.1")), Usage: pki.ServerUsage}, "", ""},
		{p.ca, "admin", pki.Request{CommonName: "kubernetes-admin", Organization: masters, Usage: pki.ClientUsage}, "admin.conf", "admin"},
		{p.ca, "apiserver-kubelet-client", pki.Request{CommonName: "kube-apiserver-kubelet-client", Organization: masters, Usage: pki.ClientUsage}, "", ""},
		{p.ca, "scheduler", pki.Request{CommonName: "system:kube-scheduler", Usage: pki.ClientUsage}, "scheduler.conf", "system:kube-scheduler"},
		{p.ca, "controller-manager", pki.Request{CommonName: "system:kube-controller-manager", Usage: pki.ClientUsage}, "controller-manager.conf", "system:kube-controller-manager"},
		{p.ca, "kube-proxy", pki.Request{CommonName: "system:kube-proxy", Usage: pki.ClientUsage}, "kube-proxy.conf", "system:kube-proxy"},
		{p.etcdCA, "apiserver-etcd-client", pki.Request{CommonName: "kube-apiserver-etcd-client", Usage: pki.ClientUsage}, "", ""},
		{p.etcdCA, "etcd/server", pki.Request{CommonName: "host-1", DNSNames: []string{"localhost"}, IPs: loopback, Usage: pki.ServerAndClientUsage}, "", ""},
		{p.etcdCA, "etcd/peer", pki.Request{CommonName: "host-1", DNSNames: []string{"localhost"}, IPs: loopback, Usage: pki.ServerAndClientUsage}, "", ""},
	}
	for _, c := range issue {
		c.req.Validity = validity
		kp, err := c.ca.Issue(c.req)
		if err != nil {
			t.Fatal(err)
		}
		dir, name := filepath.Split(filepath.Join(p.cert, c.baseName))
		if err := kp.Write(dir, name); err != nil {
			t.Fatal(err)
		}
		if c.conf == "" {
			continue
		}
		err = kubeconfig.Write(filepath.Join(root, c.conf), kubeconfig.Credentials{
			ClusterName: "coracle", Server: "https://127.0.0.1:6443", CAData: p.ca.CertPEM,
			UserName: c.user, ClientCertData: kp.CertPEM, ClientKeyData: kp.KeyPEM,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The service-account key is a key, not a certificate: never listed.
	if err := os.WriteFile(filepath.Join(p.cert, "sa.key"), p.ca.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPKI) remove(t *testing.T, paths ...string) {
	t.Helper()
	for _, path := range paths {
		if err := os.RemoveAll(filepath.Join(p.kubeconfig, path)); err != nil {
			t.Fatal(err)
		}
	}
}

// run runs `ctl certs args...` on p's directories at now and returns
// what it printed.
func (p *testPKI) run(t *testing.T, now time.Time, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	env := cmdenv.New(cmdenv.IO{In: strings.NewReader(""), Out: &out, ErrOut: &out}, func(string) string { return "" })
	env.Now = func() time.Time { return now }
	cmd := New(env)
	cmd.SetArgs(append(args, "--cert-dir", p.cert, "--kubeconfig-dir", p.kubeconfig))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), err
}

func (p *testPKI) info(t *testing.T, now time.Time) *expirationInfo {
	t.Helper()
	out, err := p.run(t, now, "check-expiration", "-o", "json")
	if err != nil {
		t.Fatalf("check-expiration: %v\n%s", err, out)
	}
	var info expirationInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return &info
}

// lines joins lines, each ended by a newline: the expected tables, whose
// rows end in kubeadm's padding.
func lines(l ...string) string {
	return strings.Join(l, "\n") + "\n"
}

func TestPrintTables(t *testing.T) {
	now := time.Date(2026, 6, 1, 10, 30, 0, 0, time.UTC)
	row := func(name string, notAfter time.Time, ca string, external bool) certificateInfo {
		return expiring(name, notAfter, now, ca, external)
	}
	year := now.Add(365*24*time.Hour - 2*time.Minute)
	decade := now.Add(10*365*24*time.Hour - 2*time.Minute)
	tests := []struct {
		name string
		info expirationInfo
		want string
	}{
		{
			name: "every certificate present, a year left",
			info: expirationInfo{
				Certificates: []certificateInfo{
					row("admin.conf", year, "ca", false),
					row("apiserver", year, "ca", false),
					row("apiserver-etcd-client", year, "etcd-ca", false),
				},
				CertificateAuthorities: []certificateInfo{row("ca", decade, "", false), row("etcd-ca", decade, "", false)},
			},
			want: lines(
				"CERTIFICATE             EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED",
				"admin.conf              Jun 01, 2027 10:28 UTC   364d            ca                      no      ",
				"apiserver               Jun 01, 2027 10:28 UTC   364d            ca                      no      ",
				"apiserver-etcd-client   Jun 01, 2027 10:28 UTC   364d            etcd-ca                 no      ",
				"",
				"CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED",
				"ca                      May 29, 2036 10:28 UTC   9y              no      ",
				"etcd-ca                 May 29, 2036 10:28 UTC   9y              no      ",
			),
		},
		{
			name: "missing certificate and CA: kubeadm's !MISSING! rows",
			info: expirationInfo{
				Certificates: []certificateInfo{
					{Name: "admin.conf", Missing: true},
					row("apiserver", year, "ca", false),
				},
				CertificateAuthorities: []certificateInfo{row("ca", decade, "", false), {Name: "etcd-ca", Missing: true}},
			},
			want: lines(
				"CERTIFICATE            EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED",
				"!MISSING! admin.conf                                                                    ",
				"apiserver              Jun 01, 2027 10:28 UTC   364d            ca                      no      ",
				"",
				"CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED",
				"ca                      May 29, 2036 10:28 UTC   9y              no      ",
				"!MISSING! etcd-ca                                                ",
			),
		},
		{
			name: "external CA, hours left and expired",
			info: expirationInfo{
				Certificates: []certificateInfo{
					row("apiserver", now.Add(5*time.Hour+10*time.Minute), "ca", true),
					row("etcd-server", now.Add(-time.Hour), "etcd-ca", false),
				},
				CertificateAuthorities: []certificateInfo{row("ca", decade, "", true)},
			},
			want: lines(
				"CERTIFICATE   EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED",
				"apiserver     Jun 01, 2026 15:40 UTC   5h10m           ca                      yes     ",
				"etcd-server   Jun 01, 2026 09:30 UTC   <invalid>       etcd-ca                 no      ",
				"",
				"CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED",
				"ca                      May 29, 2036 10:28 UTC   9y              yes     ",
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printTables(&out, &tt.info); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", out.String(), tt.want)
			}
		})
	}
}

func TestCheckExpiration(t *testing.T) {
	p := newTestPKI(t, 365*24*time.Hour)
	now := time.Now()
	info := p.info(t, now)
	if info.Kind != "CertificateExpirationInfo" || info.APIVersion != "output.kubeadm.k8s.io/v1alpha3" {
		t.Errorf("kind %q apiVersion %q", info.Kind, info.APIVersion)
	}
	wantCA := map[string]string{
		"admin.conf": "ca", "apiserver": "ca", "apiserver-etcd-client": "etcd-ca", "apiserver-kubelet-client": "ca",
		"controller-manager.conf": "ca", "etcd-peer": "etcd-ca", "etcd-server": "etcd-ca", "kube-proxy.conf": "ca", "scheduler.conf": "ca",
	}
	var names []string
	for _, c := range info.Certificates {
		names = append(names, c.Name)
		if c.Missing || c.ExternallyManaged || c.CAName != wantCA[c.Name] {
			t.Errorf("%+v", c)
		}
		// A year less the moments since the test PKI was made.
		if left := time.Duration(c.ResidualTimeSeconds) * time.Second; left <= 364*24*time.Hour || left > 365*24*time.Hour {
			t.Errorf("%s: residual %s", c.Name, left)
		}
	}
	want := []string{"admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "controller-manager.conf", "etcd-peer", "etcd-server", "kube-proxy.conf", "scheduler.conf"}
	if !slices.Equal(names, want) {
		t.Errorf("certificates %v, want %v", names, want)
	}
	if len(info.CertificateAuthorities) != 2 || info.CertificateAuthorities[0].Name != "ca" || info.CertificateAuthorities[1].Name != "etcd-ca" {
		t.Errorf("authorities %+v", info.CertificateAuthorities)
	}
	for _, c := range info.CertificateAuthorities {
		if !c.ExpirationDate.Time.Equal(p.ca.Cert.NotAfter) && !c.ExpirationDate.Time.Equal(p.etcdCA.Cert.NotAfter) || c.CAName != "" || c.Missing {
			t.Errorf("%+v", c)
		}
	}

	text, err := p.run(t, now, "check-expiration")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 1+9+1+1+2 || !strings.HasPrefix(lines[0], "CERTIFICATE ") || lines[10] != "" {
		t.Fatalf("text:\n%s", text)
	}
	for _, l := range lines[1:10] {
		if f := strings.Fields(l); len(f) != 9 || f[6] != "364d" || f[8] != "no" {
			t.Errorf("row %q", l)
		}
	}
	for _, l := range lines[12:] {
		if f := strings.Fields(l); len(f) != 8 || f[6] != "9y" {
			t.Errorf("CA row %q", l)
		}
	}

	yamlOut, err := p.run(t, now, "check-expiration", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML expirationInfo
	if err := yaml.Unmarshal([]byte(yamlOut), &fromYAML); err != nil || len(fromYAML.Certificates) != 9 || !strings.HasPrefix(yamlOut, "apiVersion: output.kubeadm.k8s.io/v1alpha3\n") {
		t.Errorf("yaml (%v):\n%s", err, yamlOut)
	}

	if _, err := p.run(t, now, "check-expiration", "-o", "wide"); err == nil || err.Error() != `unable to match a printer suitable for the output format "wide", allowed formats are: json,text,yaml` {
		t.Errorf("-o wide: %v", err)
	}
}

// A .conf is read from its kubeconfig, then from its pki pair; missing
// from both, and a missing CA, it is kubeadm's !MISSING! row.
func TestCheckExpirationMissing(t *testing.T) {
	p := newTestPKI(t, 365*24*time.Hour)
	// admin.conf embeds a certificate other than pki/admin.crt, as after
	// `renew` when the apiserver has not written it since.
	other, err := p.ca.Issue(pki.Request{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}, Usage: pki.ClientUsage, Validity: 100 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	err = kubeconfig.Write(filepath.Join(p.kubeconfig, "admin.conf"), kubeconfig.Credentials{
		ClusterName: "coracle", Server: "https://127.0.0.1:6443", CAData: p.ca.CertPEM, UserName: "admin", ClientCertData: other.CertPEM, ClientKeyData: other.KeyPEM,
	})
	if err != nil {
		t.Fatal(err)
	}
	schedulerCert, err := readCert(filepath.Join(p.cert, "scheduler.crt"))
	if err != nil {
		t.Fatal(err)
	}
	p.remove(t, "scheduler.conf", "controller-manager.conf", "pki/controller-manager.crt", "pki/apiserver.crt", "pki/etcd/ca.crt")

	now := time.Now()
	byName := map[string]certificateInfo{}
	for _, c := range p.info(t, now).Certificates {
		byName[c.Name] = c
	}
	if got := byName["admin.conf"]; !got.ExpirationDate.Time.Equal(other.Cert.NotAfter) {
		t.Errorf("admin.conf expires %s, want the kubeconfig's %s", got.ExpirationDate, other.Cert.NotAfter)
	}
	if got := byName["scheduler.conf"]; got.Missing || !got.ExpirationDate.Time.Equal(schedulerCert.NotAfter) {
		t.Errorf("scheduler.conf without its kubeconfig: %+v, want pki/scheduler.crt's %s", got, schedulerCert.NotAfter)
	}
	for _, name := range []string{"controller-manager.conf", "apiserver"} {
		if got := byName[name]; !got.Missing || got.CAName != "" || !got.ExpirationDate.IsZero() {
			t.Errorf("%s: %+v, want missing", name, got)
		}
	}
	text, err := p.run(t, now, "check-expiration")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n!MISSING! apiserver ", "\n!MISSING! controller-manager.conf ", "\n!MISSING! etcd-ca "} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}

// Without an etcd directory the apiserver runs on an external etcd: no
// etcd rows, as kubeadm with an external etcd.
func TestCheckExpirationExternalEtcd(t *testing.T) {
	p := newTestPKI(t, 365*24*time.Hour)
	p.remove(t, "pki/etcd", "pki/apiserver-etcd-client.crt", "pki/apiserver-etcd-client.key")
	info := p.info(t, time.Now())
	var names []string
	for _, c := range info.Certificates {
		names = append(names, c.Name)
	}
	want := []string{"admin.conf", "apiserver", "apiserver-kubelet-client", "controller-manager.conf", "kube-proxy.conf", "scheduler.conf"}
	if !slices.Equal(names, want) || len(info.CertificateAuthorities) != 1 || info.CertificateAuthorities[0].Name != "ca" {
		t.Errorf("certificates %v, authorities %+v", names, info.CertificateAuthorities)
	}
}

// A CA whose key is not here is kubeadm's external CA: its certificates
// are reported externally managed and not renewed.
func TestExternalCA(t *testing.T) {
	p := newTestPKI(t, 24*time.Hour)
	p.remove(t, "pki/ca.key")
	info := p.info(t, time.Now())
	for _, c := range append(info.Certificates, info.CertificateAuthorities...) {
		clusterSigned := c.CAName == "ca" || c.Name == "ca"
		if c.ExternallyManaged != clusterSigned {
			t.Errorf("%s (CA %q): externally managed %v", c.Name, c.CAName, c.ExternallyManaged)
		}
	}
	before, err := os.ReadFile(filepath.Join(p.cert, "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.run(t, time.Now(), "renew", "apiserver")
	if err != nil || out != "Detected external ca, certificate for serving the Kubernetes API can't be renewed\n" {
		t.Errorf("renew apiserver: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(filepath.Join(p.cert, "apiserver.crt")); !bytes.Equal(before, after) {
		t.Error("apiserver.crt changed")
	}
	// The etcd CA still has its key.
	if out, err := p.run(t, time.Now(), "renew", "etcd-peer"); err != nil || out != "certificate for etcd nodes to communicate with each other renewed\n" {
		t.Errorf("renew etcd-peer: %v\n%s", err, out)
	}
}

func TestRenew(t *testing.T) {
	tests := []struct {
		name     string
		baseName string
		ca       string // "ca" or "etcd-ca"
		conf     string
		usage    x509.ExtKeyUsage
		line     string
	}{
		{"apiserver", "apiserver", "ca", "", x509.ExtKeyUsageServerAuth, "certificate for serving the Kubernetes API renewed"},
		{"apiserver-kubelet-client", "apiserver-kubelet-client", "ca", "", x509.ExtKeyUsageClientAuth, "certificate for the API server to connect to kubelet renewed"},
		{"apiserver-etcd-client", "apiserver-etcd-client", "etcd-ca", "", x509.ExtKeyUsageClientAuth, "certificate the apiserver uses to access etcd renewed"},
		{"etcd-server", "etcd/server", "etcd-ca", "", x509.ExtKeyUsageServerAuth, "certificate for serving etcd renewed"},
		{"etcd-peer", "etcd/peer", "etcd-ca", "", x509.ExtKeyUsageClientAuth, "certificate for etcd nodes to communicate with each other renewed"},
		{"admin.conf", "admin", "ca", "admin.conf", x509.ExtKeyUsageClientAuth, "certificate embedded in the kubeconfig file for the admin to use and for ctl itself renewed"},
		{"scheduler.conf", "scheduler", "ca", "scheduler.conf", x509.ExtKeyUsageClientAuth, "certificate embedded in the kubeconfig file for the scheduler manager to use renewed"},
		{"controller-manager.conf", "controller-manager", "ca", "controller-manager.conf", x509.ExtKeyUsageClientAuth, "certificate embedded in the kubeconfig file for the controller manager to use renewed"},
		{"kube-proxy.conf", "kube-proxy", "ca", "kube-proxy.conf", x509.ExtKeyUsageClientAuth, "certificate embedded in the kubeconfig file for kube-proxy to use renewed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPKI(t, 24*time.Hour)
			ca := p.ca
			if tt.ca == "etcd-ca" {
				ca = p.etcdCA
			}
			old, err := readCert(p.certPath(tt.baseName))
			if err != nil {
				t.Fatal(err)
			}
			confPath := filepath.Join(p.kubeconfig, tt.conf)
			if tt.conf != "" {
				// Something the apiserver did not write, to be kept.
				cfg, err := clientcmd.LoadFromFile(confPath)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Contexts[cfg.CurrentContext].Namespace = "kube-system"
				if err := clientcmd.WriteToFile(*cfg, confPath); err != nil {
					t.Fatal(err)
				}
			}
			untouched := p.snapshot(t, tt.baseName, tt.conf)

			out, err := p.run(t, time.Now(), "renew", tt.name)
			if err != nil || out != tt.line+"\n" {
				t.Fatalf("renew %s: %v\n%s", tt.name, err, out)
			}

			kp, err := pki.Load(filepath.Split(filepath.Join(p.cert, tt.baseName)))
			if err != nil {
				t.Fatal(err)
			}
			renewed := kp.Cert
			if renewed.Subject.CommonName != old.Subject.CommonName || !slices.Equal(renewed.Subject.Organization, old.Subject.Organization) ||
				!slices.Equal(renewed.DNSNames, old.DNSNames) || !slices.EqualFunc(renewed.IPAddresses, old.IPAddresses, net.IP.Equal) ||
				!slices.Equal(renewed.ExtKeyUsage, old.ExtKeyUsage) {
				t.Errorf("renewed %v %v %v %v %v, was %v %v %v %v %v",
					renewed.Subject.CommonName, renewed.Subject.Organization, renewed.DNSNames, renewed.IPAddresses, renewed.ExtKeyUsage,
					old.Subject.CommonName, old.Subject.Organization, old.DNSNames, old.IPAddresses, old.ExtKeyUsage)
			}
			if !renewed.NotAfter.After(old.NotAfter.Add(300*24*time.Hour)) || renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
				t.Errorf("renewed NotAfter %s serial %s; was %s %s", renewed.NotAfter, renewed.SerialNumber, old.NotAfter, old.SerialNumber)
			}
			if _, err := renewed.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Errorf("renewed certificate does not chain to its CA: %v", err)
			}
			if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
				t.Errorf("new key does not match: %v", err)
			}
			if tt.conf != "" {
				cfg, err := clientcmd.LoadFromFile(confPath)
				if err != nil {
					t.Fatal(err)
				}
				kctx := cfg.Contexts[cfg.CurrentContext]
				user := cfg.AuthInfos[kctx.AuthInfo]
				if !bytes.Equal(user.ClientCertificateData, kp.CertPEM) || !bytes.Equal(user.ClientKeyData, kp.KeyPEM) {
					t.Error("kubeconfig does not embed the renewed pair")
				}
				if kctx.Namespace != "kube-system" || cfg.Clusters[kctx.Cluster].Server != "https://127.0.0.1:6443" || !bytes.Equal(cfg.Clusters[kctx.Cluster].CertificateAuthorityData, p.ca.CertPEM) {
					t.Errorf("kubeconfig lost its settings: context %+v cluster %+v", kctx, cfg.Clusters[kctx.Cluster])
				}
				if _, err := os.Stat(confPath + ".tmp"); !os.IsNotExist(err) {
					t.Errorf("temporary file left: %v", err)
				}
			}
			p.unchanged(t, untouched)
		})
	}
}

// snapshot reads every file of the PKI and kubeconfig dir but the ones a
// renewal of baseName (and conf) may change.
func (p *testPKI) snapshot(t *testing.T, baseName, conf string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(p.kubeconfig, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if path == p.certPath(baseName) || path == p.keyPath(baseName) || conf != "" && path == filepath.Join(p.kubeconfig, conf) {
			return nil
		}
		files[path], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func (p *testPKI) unchanged(t *testing.T, files map[string][]byte) {
	t.Helper()
	for path, data := range files {
		if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, data) {
			t.Errorf("%s changed (%v)", path, err)
		}
	}
}

// A .conf whose kubeconfig is gone is renewed from, and into, its pki
// pair; the apiserver writes the kubeconfig from it when it starts.
func TestRenewConfWithoutKubeconfig(t *testing.T) {
	p := newTestPKI(t, 24*time.Hour)
	p.remove(t, "kube-proxy.conf")
	old, err := readCert(p.certPath("kube-proxy"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.run(t, time.Now(), "renew", "kube-proxy.conf"); err != nil || !strings.HasSuffix(out, " renewed\n") {
		t.Fatalf("%v\n%s", err, out)
	}
	renewed, err := readCert(p.certPath("kube-proxy"))
	if err != nil || renewed.SerialNumber.Cmp(old.SerialNumber) == 0 || renewed.Subject.CommonName != "system:kube-proxy" {
		t.Errorf("pki/kube-proxy.crt not renewed (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(p.kubeconfig, "kube-proxy.conf")); !os.IsNotExist(err) {
		t.Errorf("kube-proxy.conf made: %v", err)
	}
}

func TestRenewAll(t *testing.T) {
	p := newTestPKI(t, 24*time.Hour)
	p.remove(t, "pki/apiserver-kubelet-client.crt")
	out, err := p.run(t, time.Now(), "renew", "all")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := `certificate embedded in the kubeconfig file for the admin to use and for ctl itself renewed
certificate for serving the Kubernetes API renewed
certificate the apiserver uses to access etcd renewed
MISSING! certificate for the API server to connect to kubelet
certificate embedded in the kubeconfig file for the controller manager to use renewed
certificate for etcd nodes to communicate with each other renewed
certificate for serving etcd renewed
certificate embedded in the kubeconfig file for kube-proxy to use renewed
certificate embedded in the kubeconfig file for the scheduler manager to use renewed

Done renewing certificates. You must restart the coracle-apiserver (and with it its embedded etcd), coracle-controller-manager, coracle-scheduler and coracle-kube-proxy, so that they can use the new certificates.
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	for _, c := range p.info(t, time.Now()).Certificates {
		if c.Name == "apiserver-kubelet-client" {
			if !c.Missing {
				t.Errorf("%s renewed from nothing", c.Name)
			}
			continue
		}
		if c.ResidualTimeSeconds < int64(364*24*time.Hour/time.Second) {
			t.Errorf("%s: %s left after renewal", c.Name, time.Duration(c.ResidualTimeSeconds)*time.Second)
		}
	}
	// CAs are never renewed.
	if ca, err := readCert(p.certPath("ca")); err != nil || !ca.Equal(p.ca.Cert) {
		t.Errorf("the CA changed (%v)", err)
	}
}

func TestRenewRefuses(t *testing.T) {
	p := newTestPKI(t, 24*time.Hour)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown certificate", []string{"renew", "front-proxy-client"}, `unknown command "front-proxy-client" for "certs renew"; valid certificates are: all, admin.conf, apiserver, apiserver-etcd-client, apiserver-kubelet-client, controller-manager.conf, etcd-peer, etcd-server, kube-proxy.conf, scheduler.conf
See 'certs renew -h' for help and examples`},
		{"a CA", []string{"renew", "ca"}, `unknown command "ca" for "certs renew"; valid certificates are: all, admin.conf, apiserver, apiserver-etcd-client, apiserver-kubelet-client, controller-manager.conf, etcd-peer, etcd-server, kube-proxy.conf, scheduler.conf
See 'certs renew -h' for help and examples`},
		{"no certificate", []string{"renew"}, `missing subcommand; "certs renew" is not meant to be run on its own`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := New(cmdenv.New(cmdenv.IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(string) string { return "" }))
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			if err := cmd.Execute(); err == nil || err.Error() != tt.want {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
	// A kubeconfig that embeds no client certificate is not renewed.
	err := kubeconfig.Write(filepath.Join(p.kubeconfig, "admin.conf"), kubeconfig.Credentials{ClusterName: "coracle", Server: "https://127.0.0.1:6443", CAData: p.ca.CertPEM, UserName: "admin", Token: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.run(t, time.Now(), "renew", "admin.conf")
	if want := "kubeConfig file " + filepath.Join(p.kubeconfig, "admin.conf") + " does not have an embedded client certificate"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestUsageOf(t *testing.T) {
	tests := []struct {
		name    string
		usages  []x509.ExtKeyUsage
		want    pki.Usage
		wantErr bool
	}{
		{"server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, pki.ServerUsage, false},
		{"client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, pki.ClientUsage, false},
		{"both, either order", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, pki.ServerAndClientUsage, false},
		{"code signing is not kept: refused", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageCodeSigning}, 0, true},
		{"none: refused", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := usageOf(&x509.Certificate{ExtKeyUsage: tt.usages})
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %v, %v", got, err)
			}
		})
	}
}

// Every subcommand takes the directories, as kubeadm's.
func TestRenewSubcommands(t *testing.T) {
	cmd := New(cmdenv.New(cmdenv.IO{}, func(string) string { return "" }))
	renew, _, err := cmd.Find([]string{"renew"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range renew.Commands() {
		names = append(names, c.Name())
		for _, f := range []string{"cert-dir", "kubeconfig-dir"} {
			if fl := c.Flags().Lookup(f); fl == nil {
				t.Errorf("renew %s has no --%s", c.Name(), f)
			}
		}
	}
	want := []string{"admin.conf", "all", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "controller-manager.conf", "etcd-peer", "etcd-server", "kube-proxy.conf", "scheduler.conf"}
	if !slices.Equal(names, want) {
		t.Errorf("subcommands %v, want %v", names, want)
	}
}
