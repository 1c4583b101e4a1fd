package loadtest

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Kubeconfig = "admin.conf"
		return c
	}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"defaults with a kubeconfig are valid", func(*Config) {}, ""},
		{"starting an apiserver instead is valid", func(c *Config) { c.Kubeconfig, c.StartAPIServer = "", "bin/apiserver" }, ""},
		{"neither target", func(c *Config) { c.Kubeconfig = "" }, "exactly one of"},
		{"both targets", func(c *Config) { c.StartAPIServer = "bin/apiserver" }, "exactly one of"},
		{"no concurrency", func(c *Config) { c.Concurrency = nil }, "--concurrency"},
		{"more workers than objects to share", func(c *Config) { c.Concurrency = []int{1, 2000} }, "--concurrency 2000"},
		{"zero duration", func(c *Config) { c.Duration = 0 }, "--duration"},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "--rate"},
		{"no watchers", func(c *Config) { c.Watchers = 0 }, "--watchers"},
		{"raw watchers only is valid", func(c *Config) { c.WatchClients = []string{RawStream} }, ""},
		{"no watch client", func(c *Config) { c.WatchClients = nil }, "--watch-clients"},
		{"unknown watch client", func(c *Config) { c.WatchClients = []string{"curl"} }, `--watch-clients "curl"`},
		{"negative pid", func(c *Config) { c.APIServerPID = -1 }, "--apiserver-pid"},
		{"some phases are valid", func(c *Config) { c.Phases = []string{PhaseRate, PhaseWatch} }, ""},
		{"no phases", func(c *Config) { c.Phases = nil }, "--phases"},
		{"unknown phase", func(c *Config) { c.Phases = []string{"delete"} }, `--phases "delete"`},
		{"no events", func(c *Config) { c.Events = 0 }, "--events"},
		{"no event timeout", func(c *Config) { c.EventTimeout = -time.Second }, "--event-timeout"},
		{"no namespace", func(c *Config) { c.Namespace = "" }, "--namespace"},
		{"client throttled to nothing", func(c *Config) { c.QPS = 0 }, "--qps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}
