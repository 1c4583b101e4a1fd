package app

import (
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

func TestDefaults(t *testing.T) {
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		HTTPAddress: ":80", HTTPSAddress: ":443", StatusAddress: ":10254",
		IngressClass: "coracle", ControllerName: "coracle.dev/ingress-controller", DataDir: "/var/lib/coracle-ingress",
		SyncDelay: 100 * time.Millisecond, DrainTimeout: time.Minute, KubeAPIQPS: 20, KubeAPIBurst: 40,
	}
	if cfg != want {
		t.Errorf("defaults:\n%+v\nwant\n%+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults are invalid: %v", err)
	}
}

func TestFlagsFileAndEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ingress.yaml")
	if err := os.WriteFile(file, []byte("publish-service: kube-system/coracle-ingress\nsync-delay: 250ms\nhttp-address: :8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORACLE_INGRESS_CLASS", "internal")
	cfg, err := load(t, "--config", file, "--http-address", "127.0.0.1:8081", "--access-log")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddress != "127.0.0.1:8081" || cfg.PublishService != "kube-system/coracle-ingress" ||
		cfg.SyncDelay != 250*time.Millisecond || cfg.IngressClass != "internal" || !cfg.AccessLog {
		t.Errorf("merged config: %+v", cfg)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"publish service", func(c *Config) { c.PublishService = "kube-system/coracle-ingress" }, ""},
		{"publish service without namespace", func(c *Config) { c.PublishService = "coracle-ingress" }, "--publish-service"},
		{"publish service with two slashes", func(c *Config) { c.PublishService = "a/b/c" }, "--publish-service"},
		{"bad http address", func(c *Config) { c.HTTPAddress = "80" }, "--http-address"},
		{"bad status address", func(c *Config) { c.StatusAddress = "" }, "--status-address"},
		{"one address for both", func(c *Config) { c.HTTPSAddress = c.HTTPAddress }, "both"},
		{"no class", func(c *Config) { c.IngressClass = "" }, "--ingress-class"},
		{"no controller name", func(c *Config) { c.ControllerName = "" }, "--controller-name"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"negative delay", func(c *Config) { c.SyncDelay = -time.Second }, "--sync-delay"},
		{"negative drain", func(c *Config) { c.DrainTimeout = -time.Second }, "--drain-timeout"},
		{"no QPS", func(c *Config) { c.KubeAPIQPS = 0 }, "--kube-api-qps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestNewOutsideAClusterWithoutKubeconfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	_, err := New(DefaultConfig())
	if err == nil || !strings.Contains(err.Error(), "not in a cluster") {
		t.Fatalf("New without kubeconfig outside a cluster: %v", err)
	}
}
