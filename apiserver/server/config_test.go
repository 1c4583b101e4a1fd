package server

import "testing"

// The example configuration shipped in deploy/ loads with the binary's
// flags and validates.
func TestExampleConfigLoads(t *testing.T) {
	cfg, logOpts, err := Daemon().Load([]string{"--config", "../../deploy/config/apiserver.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SecurePort != 6443 || cfg.ServiceNodePortRange != "30000-32767" || cfg.AdminKubeconfig != "/etc/coracle/admin.conf" {
		t.Errorf("loaded %+v", cfg)
	}
	if logOpts.Level != "info" {
		t.Errorf("log options %+v", logOpts)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}
