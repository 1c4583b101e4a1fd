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
		StatusAddress: ":10260", ProvisionerName: "rancher.io/local-path", Namespace: "kube-system",
		ConfigMapName: "local-path-config", HelperCommand: "/local-path", ServiceAccount: "local-path-provisioner-service-account",
		Workers: 4, RetryBase: 2 * time.Second, RetryMax: 5 * time.Minute, KubeAPIQPS: 20, KubeAPIBurst: 40,
	}
	if cfg != want {
		t.Errorf("defaults:\n%+v\nwant\n%+v", cfg, want)
	}
	// The helper image has no default: it must be the pod's own.
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--helper-image") {
		t.Errorf("defaults validate: %v; want --helper-image required", err)
	}
}

func TestFlagsFileAndEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "local-path.yaml")
	if err := os.WriteFile(file, []byte("workers: 2\nconfigmap-name: storage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORACLE_HELPER_IMAGE", "registry.example/local-path:v1")
	cfg, err := load(t, "--config", file, "--workers", "3", "--namespace", "storage-system")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HelperImage != "registry.example/local-path:v1" || cfg.Workers != 3 || cfg.ConfigMapName != "storage" ||
		cfg.Namespace != "storage-system" {
		t.Errorf("merged config: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("merged config is invalid: %v", err)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"bad status address", func(c *Config) { c.StatusAddress = "10260" }, "--status-address"},
		{"no provisioner", func(c *Config) { c.ProvisionerName = "" }, "--provisioner-name"},
		{"bad namespace", func(c *Config) { c.Namespace = "Kube_System" }, "--namespace"},
		{"no configmap", func(c *Config) { c.ConfigMapName = "" }, "--configmap-name"},
		{"relative helper command", func(c *Config) { c.HelperCommand = "local-path" }, "--helper-command"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "--workers"},
		{"max below base", func(c *Config) { c.RetryMax = time.Second; c.RetryBase = time.Minute }, "--retry-base-delay"},
		{"no QPS", func(c *Config) { c.KubeAPIQPS = 0 }, "--kube-api-qps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.HelperImage = "coracle.dev/addons/local-path:v0.1.0"
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
	c := DefaultConfig()
	c.HelperImage = "coracle.dev/addons/local-path:v0.1.0"
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "not in a cluster") {
		t.Fatalf("New without kubeconfig outside a cluster: %v", err)
	}
}
