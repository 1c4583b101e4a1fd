package app

import (
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	cfg, _, err := Daemon().Load(args)
	return cfg, err
}

// The example configuration shipped in deploy/ must load with the
// binary's flags and validate.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := load(t, "--config", "../../deploy/config/scheduler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.LeaderElect || cfg.Kubeconfig != "/etc/coracle/scheduler.conf" || cfg.StatusAddress != "127.0.0.1:10259" {
		t.Errorf("loaded %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestFlagsOverrideDefaults(t *testing.T) {
	cfg, err := load(t, "--kubeconfig", "/k", "--scheduler-name", "mine", "--leader-elect", "--pod-max-backoff", "30s", "--kube-api-qps", "500", "--volume-binding-timeout-seconds", "30")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SchedulerName != "mine" || !cfg.LeaderElect || cfg.PodMaxBackoff != 30*time.Second || cfg.KubeAPIQPS != 500 || cfg.VolumeBindingTimeoutSeconds != 30 {
		t.Errorf("loaded %+v", cfg)
	}
	if def := DefaultConfig(); def.LeaderElectLeaseDuration != DefaultLeaseDuration || def.SchedulerName != "default-scheduler" || def.VolumeBindingTimeoutSeconds != 600 {
		t.Errorf("defaults %+v", def)
	}
}

func TestValidate(t *testing.T) {
	base := func() Config { c := DefaultConfig(); c.Kubeconfig = "/k"; return c }
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"defaults with a kubeconfig are valid", func(*Config) {}, ""},
		{"kubeconfig required", func(c *Config) { c.Kubeconfig = "" }, "--kubeconfig"},
		{"percentage out of range", func(c *Config) { c.PercentageOfNodesToScore = 101 }, "--percentage-of-nodes-to-score"},
		{"back-off order", func(c *Config) { c.PodMaxBackoff = c.PodInitialBackoff / 2 }, "--pod-initial-backoff"},
		{"lease shorter than the renew deadline", func(c *Config) {
			c.LeaderElect = true
			c.LeaderElectLeaseDuration = time.Second
		}, "--leader-elect-lease-duration"},
		{"qps", func(c *Config) { c.KubeAPIQPS = 0 }, "--kube-api-qps"},
		{"volume binding timeout", func(c *Config) { c.VolumeBindingTimeoutSeconds = 0 }, "--volume-binding-timeout-seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
