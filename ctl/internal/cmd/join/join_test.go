package join

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"coracle.dev/ctl/internal/discovery"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/pki"
)

const token = "abcdef.0123456789abcdef"

// fakeHost records what join asks of the machine; its discovery trusts
// cluster (or refuses with err).
type fakeHost struct {
	cluster    *discovery.Cluster
	err        error
	discovered int
	systemctl  [][]string
	// onEnable runs when the units are enabled (the kubelet's TLS
	// bootstrap, played by the test).
	onEnable func()
}

func (f *fakeHost) host() Host {
	return Host{
		Hostname: func() (string, error) { return "Worker-1", nil },
		Systemctl: func(_ context.Context, args ...string) error {
			f.systemctl = append(f.systemctl, args)
			if args[0] == "enable" && f.onEnable != nil {
				f.onEnable()
			}
			return nil
		},
		Discover: func(_ context.Context, o discovery.Options) (*discovery.Cluster, error) {
			f.discovered++
			return f.cluster, f.err
		},
	}
}

func newCluster(t *testing.T) *discovery.Cluster {
	t.Helper()
	ca, err := pki.NewCA("coracle-ca")
	if err != nil {
		t.Fatal(err)
	}
	return &discovery.Cluster{Server: "https://10.0.0.1:6443", CAData: ca.CertPEM}
}

func options(dir string) Options {
	return Options{
		Endpoint: "10.0.0.1:6443", Token: token, CACertHashes: []string{"sha256:" + strings.Repeat("ab", 32)},
		ConfigDir: dir, Timeout: 30 * time.Second, DiscoveryTimeout: time.Second,
	}
}

func files(t *testing.T, dir string) []string {
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

func TestJoinWritesTheNodeFiles(t *testing.T) {
	dir := t.TempDir()
	f := &fakeHost{cluster: newCluster(t)}
	o := options(dir)
	o.NodeIP = "172.31.250.12"
	var out bytes.Buffer
	if err := Run(context.Background(), &out, &out, f.host(), o); err != nil {
		t.Fatal(err)
	}
	if want := []string{"bootstrap-kubelet.conf", "kubelet.env", "pki/ca.crt"}; !slices.Equal(files(t, dir), want) {
		t.Fatalf("files %q, want %q", files(t, dir), want)
	}
	cfg, err := clientcmd.LoadFromFile(filepath.Join(dir, "bootstrap-kubelet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext != "tls-bootstrap-token-user@kubernetes" || ctx == nil || ctx.AuthInfo != "tls-bootstrap-token-user" || ctx.Cluster != "kubernetes" {
		t.Fatalf("context %q: %+v", cfg.CurrentContext, ctx)
	}
	if c := cfg.Clusters["kubernetes"]; c.Server != "https://10.0.0.1:6443" || !bytes.Equal(c.CertificateAuthorityData, f.cluster.CAData) {
		t.Errorf("cluster %+v", c)
	}
	if u := cfg.AuthInfos["tls-bootstrap-token-user"]; u.Token != token {
		t.Errorf("user %+v", u)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "bootstrap-kubelet.conf")); fi.Mode().Perm() != 0o600 {
		t.Errorf("bootstrap-kubelet.conf mode %v: it holds the token", fi.Mode())
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "pki/ca.crt"))
	if !bytes.Equal(ca, f.cluster.CAData) {
		t.Errorf("ca.crt\n%s", ca)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "kubelet.env"))
	if !strings.HasSuffix(string(env), "\nCORACLE_NODE_NAME=worker-1\nCORACLE_NODE_IP=172.31.250.12\n") {
		t.Errorf("kubelet.env:\n%s", env)
	}
	if len(f.systemctl) != 0 {
		t.Errorf("systemctl ran without --start: %q", f.systemctl)
	}
	if !strings.Contains(out.String(), "systemctl enable --now coracle-kubelet.service coracle-kube-proxy.service") {
		t.Errorf("output does not say what to start:\n%s", out.String())
	}
}

func TestJoinStartsTheUnitsAndWaitsForTheTLSBootstrap(t *testing.T) {
	dir := t.TempDir()
	f := &fakeHost{cluster: newCluster(t)}
	f.onEnable = func() {
		// The kubelet's TLS bootstrap done: its own kubeconfig.
		err := kubeconfig.Write(filepath.Join(dir, "kubelet.conf"), kubeconfig.Credentials{
			ClusterName: "kubernetes", Server: f.cluster.Server, CAData: f.cluster.CAData, UserName: "system:node:worker-1", Token: "x",
		})
		if err != nil {
			t.Error(err)
		}
	}
	o := options(dir)
	o.Start = true
	var out bytes.Buffer
	if err := Run(context.Background(), &out, &out, f.host(), o); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"daemon-reload"}, {"enable", "--now", "coracle-kubelet.service", "coracle-kube-proxy.service"}}
	if !slices.EqualFunc(f.systemctl, want, slices.Equal) {
		t.Errorf("systemctl %q, want %q", f.systemctl, want)
	}
	if !strings.Contains(out.String(), "This node has joined the cluster:") {
		t.Errorf("output:\n%s", out.String())
	}
	if want := []string{"kubelet.conf", "kubelet.env", "pki/ca.crt"}; !slices.Equal(files(t, dir), want) {
		t.Errorf("files %q, want %q (the token's kubeconfig removed)", files(t, dir), want)
	}
}

func TestJoinTimesOutWithoutTheTLSBootstrap(t *testing.T) {
	dir := t.TempDir()
	f := &fakeHost{cluster: newCluster(t)}
	o := options(dir)
	o.Start, o.Timeout = true, 100*time.Millisecond
	err := Run(context.Background(), &bytes.Buffer{}, &bytes.Buffer{}, f.host(), o)
	if err == nil || !strings.Contains(err.Error(), "failed while waiting for TLS bootstrap") {
		t.Fatalf("error %v", err)
	}
	// The kubelet may still finish: its token stays.
	if _, err := os.Stat(filepath.Join(dir, "bootstrap-kubelet.conf")); err != nil {
		t.Error(err)
	}
}

func TestJoinRefusals(t *testing.T) {
	otherCA, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// arrange prepares the config dir and the options.
		arrange        func(t *testing.T, dir string, o *Options, f *fakeHost)
		wantMsg        string
		wantDiscovered int
		wantFiles      []string
	}{
		{
			name:           "discovery refuses: nothing written",
			arrange:        func(t *testing.T, dir string, o *Options, f *fakeHost) { f.err = discovery.ErrBadSignature },
			wantMsg:        "couldn't validate the identity of the API Server: failed to verify JWS signature",
			wantDiscovered: 1,
		},
		{
			name: "joined already",
			arrange: func(t *testing.T, dir string, o *Options, f *fakeHost) {
				if err := os.WriteFile(filepath.Join(dir, "kubelet.conf"), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg:   "kubelet.conf already exists: this host has joined a cluster already",
			wantFiles: []string{"kubelet.conf"},
		},
		{
			name:    "bad token shape",
			arrange: func(t *testing.T, dir string, o *Options, f *fakeHost) { o.Token = "abcdef" },
			wantMsg: `the bootstrap token "abcdef" was not of the form`,
		},
		{
			name:    "bad node name",
			arrange: func(t *testing.T, dir string, o *Options, f *fakeHost) { o.NodeName = "Node_1" },
			wantMsg: `--node-name "Node_1": a lowercase RFC 1123 subdomain`,
		},
		{
			name:    "bad node ip",
			arrange: func(t *testing.T, dir string, o *Options, f *fakeHost) { o.NodeIP = "10.0.0" },
			wantMsg: `--node-ip "10.0.0": not an IP address`,
		},
		{
			name: "another CA on disk",
			arrange: func(t *testing.T, dir string, o *Options, f *fakeHost) {
				_ = os.MkdirAll(filepath.Join(dir, "pki"), 0o755)
				if err := os.WriteFile(filepath.Join(dir, "pki/ca.crt"), otherCA.CertPEM, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg:        "ca.crt already exists and holds another CA than this cluster's",
			wantDiscovered: 1,
			wantFiles:      []string{"pki/ca.crt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := &fakeHost{cluster: newCluster(t)}
			o := options(dir)
			tt.arrange(t, dir, &o, f)
			err := Run(context.Background(), &bytes.Buffer{}, &bytes.Buffer{}, f.host(), o)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %v, want %q", err, tt.wantMsg)
			}
			if f.discovered != tt.wantDiscovered {
				t.Errorf("discovery ran %d times, want %d", f.discovered, tt.wantDiscovered)
			}
			if got := files(t, dir); !slices.Equal(got, tt.wantFiles) {
				t.Errorf("files %q, want %q", got, tt.wantFiles)
			}
			if tt.name == "discovery refuses: nothing written" && !errors.Is(err, discovery.ErrBadSignature) {
				t.Errorf("error %v does not wrap the refusal", err)
			}
		})
	}
}

// The same CA already on disk (a control-plane host joining as a node)
// is kept, not refused.
func TestJoinKeepsTheSameCA(t *testing.T) {
	dir := t.TempDir()
	f := &fakeHost{cluster: newCluster(t)}
	_ = os.MkdirAll(filepath.Join(dir, "pki"), 0o755)
	bundle := append(append([]byte{}, f.cluster.CAData...), f.cluster.CAData...)
	if err := os.WriteFile(filepath.Join(dir, "pki/ca.crt"), bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), &bytes.Buffer{}, &bytes.Buffer{}, f.host(), options(dir)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "pki/ca.crt")); !bytes.Equal(got, bundle) {
		t.Error("ca.crt rewritten")
	}
}
