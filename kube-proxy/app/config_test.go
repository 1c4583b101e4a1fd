package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	cfg, _, err := Daemon().Load(args)
	return cfg, err
}

func TestDefaultsAreUpstreams(t *testing.T) {
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsBindAddress != "127.0.0.1:10256" || cfg.MinSyncPeriod != time.Second || cfg.SyncPeriod != 30*time.Second || cfg.ProxyMode != ModeIPTables {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestFlagsFileAndEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kube-proxy.yaml")
	if err := os.WriteFile(file, []byte("cluster-cidr: 10.244.0.0/16\nmin-sync-period: 250ms\nnode-name: from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORACLE_SYNC_PERIOD", "1m")
	cfg, err := load(t, "--config", file, "--node-name", "from-flag", "--kubeconfig", "/k")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "from-flag" || cfg.ClusterCIDR != "10.244.0.0/16" || cfg.MinSyncPeriod != 250*time.Millisecond || cfg.SyncPeriod != time.Minute {
		t.Errorf("merged config: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := func() Config { c := DefaultConfig(); c.Kubeconfig, c.NodeName = "/k", "n"; return c }
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"nftables is not implemented yet", func(c *Config) { c.ProxyMode = ModeNFTables }, "not implemented yet"},
		{"unknown mode", func(c *Config) { c.ProxyMode = "ipvs" }, "--proxy-mode"},
		{"kubeconfig required", func(c *Config) { c.Kubeconfig = "" }, "--kubeconfig"},
		{"bad cluster CIDR", func(c *Config) { c.ClusterCIDR = "10.244.0.0" }, "--cluster-cidr"},
		{"bad bind address", func(c *Config) { c.BindAddress = "node" }, "--bind-address"},
		{"bad sync period", func(c *Config) { c.SyncPeriod = 0 }, "--sync-period"},
		{"cleanup needs no kubeconfig", func(c *Config) { c.Cleanup, c.Kubeconfig = true, "" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	c := base()
	c.ProxyMode = ModeNFTables
	if err := c.Validate(); !errors.Is(err, ErrNotImplemented) {
		t.Errorf("nftables: %v, want ErrNotImplemented", err)
	}
}

// The example configuration shipped in deploy/ loads with the binary's
// flags and validates.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := load(t, "--config", "../../deploy/config/kube-proxy.yaml", "--node-name", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kubeconfig != "/etc/coracle/kubelet.conf" || cfg.ClusterCIDR != "10.244.0.0/16" {
		t.Errorf("loaded %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}
