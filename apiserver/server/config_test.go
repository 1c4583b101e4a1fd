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

func TestEtcdFlagsFillEtcdConfig(t *testing.T) {
	cfg, _, err := Daemon().Load([]string{"--etcd-servers", "https://a:2379,https://b:2379", "--etcd-cafile", "/ca.pem", "--etcd-compaction-interval", "1m"})
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.EtcdConfig
	if len(e.EtcdServers) != 2 || e.EtcdServers[1] != "https://b:2379" || e.EtcdCAFile != "/ca.pem" || e.CompactionInterval.String() != "1m0s" || e.EmbeddedEtcdClientURL != DefaultEtcdClientURL {
		t.Errorf("etcd config %+v", e)
	}
}
