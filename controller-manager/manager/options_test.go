package manager

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestEnabledControllers(t *testing.T) {
	all := Names()
	tests := []struct {
		name    string
		flag    []string
		want    []string
		wantErr bool
	}{
		{"star is all", []string{"*"}, all, false},
		{"star minus one", []string{"*", "-node-ipam"}, without(all, "node-ipam-controller"), false},
		{"only named, short or long", []string{"replicaset", "deployment-controller"}, []string{"replicaset-controller", "deployment-controller"}, false},
		{"unknown name", []string{"*", "-nope"}, nil, true},
		{"nothing", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Controllers = tt.flag
			got, err := o.EnabledControllers()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{"defaults with a kubeconfig", func(o *Options) {}, ""},
		{"no kubeconfig", func(o *Options) { o.Kubeconfig = "" }, "--kubeconfig"},
		{"bad cluster CIDR", func(o *Options) { o.ClusterCIDR = "10.244.0.0" }, "--cluster-cidr"},
		{"mask smaller than the cluster CIDR", func(o *Options) { o.NodeCIDRMaskSize = 8 }, "--node-cidr-mask-size"},
		{"too many node CIDRs", func(o *Options) { o.ClusterCIDR = "10.0.0.0/8"; o.NodeCIDRMaskSize = 30 }, "--node-cidr-mask-size"},
		{"IPAM off", func(o *Options) { o.ClusterCIDR = "" }, ""},
		{"renew deadline past the lease", func(o *Options) { o.LeaderElect = true; o.LeaderElectRenewDeadline = time.Minute }, "leader election"},
		{"no signing duration", func(o *Options) { o.ClusterSigningDuration = 0 }, "--cluster-signing-duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Kubeconfig = "/etc/coracle/controller-manager.conf"
			tt.mutate(&o)
			err := o.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

// The command-line contract: flags, config file keys and defaults.
func TestFlagsAndConfig(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/cm.yaml"
	if err := writeFile(file, "cluster-cidr: 10.100.0.0/16\nnode-monitor-grace-period: 20s\ncontrollers: ['*', -cronjob]\n"); err != nil {
		t.Fatal(err)
	}
	o, _, err := Daemon().Load([]string{"--kubeconfig", "/k", "--leader-elect", "--node-cidr-mask-size", "26", "--config", file})
	if err != nil {
		t.Fatal(err)
	}
	if o.Kubeconfig != "/k" || !o.LeaderElect || o.NodeCIDRMaskSize != 26 || o.ClusterCIDR != "10.100.0.0/16" ||
		o.NodeMonitorGracePeriod != 20*time.Second || o.KubeAPIQPS != DefaultKubeAPIQPS || o.TerminatedPodGCThreshold != 12500 {
		t.Errorf("options = %+v", o)
	}
	got, err := o.EnabledControllers()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range got {
		if n == "cronjob-controller" {
			t.Error("cronjob-controller enabled despite -cronjob")
		}
	}
}

// The CSR signer's flags are kube-controller-manager's, with its default
// duration (8760h0m0s).
func TestClusterSigningFlags(t *testing.T) {
	o, _, err := Daemon().Load([]string{"--kubeconfig", "/k"})
	if err != nil {
		t.Fatal(err)
	}
	if o.ClusterSigningDuration.String() != "8760h0m0s" || o.ClusterSigningCertFile != "" || o.ClusterSigningKeyFile != "" {
		t.Errorf("defaults: %v %q %q", o.ClusterSigningDuration, o.ClusterSigningCertFile, o.ClusterSigningKeyFile)
	}
	o, _, err = Daemon().Load([]string{"--kubeconfig", "/k", "--cluster-signing-cert-file", "/pki/ca.crt",
		"--cluster-signing-key-file", "/pki/ca.key", "--cluster-signing-duration", "720h"})
	if err != nil {
		t.Fatal(err)
	}
	if o.ClusterSigningCertFile != "/pki/ca.crt" || o.ClusterSigningKeyFile != "/pki/ca.key" || o.ClusterSigningDuration != 720*time.Hour {
		t.Errorf("flags: %v %q %q", o.ClusterSigningDuration, o.ClusterSigningCertFile, o.ClusterSigningKeyFile)
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// The example configuration shipped in deploy/ loads with the binary's
// flags and validates.
func TestExampleConfigLoads(t *testing.T) {
	o, logOpts, err := Daemon().Load([]string{"--config", "../../deploy/config/controller-manager.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	if logOpts.Level != "info" || logOpts.Format != "json" {
		t.Errorf("log options %+v", logOpts)
	}
}

// --use-service-account-credentials is off unless asked, as in
// kube-controller-manager.
func TestUseServiceAccountCredentialsFlag(t *testing.T) {
	o, _, err := Daemon().Load([]string{"--kubeconfig", "/k"})
	if err != nil {
		t.Fatal(err)
	}
	if o.UseServiceAccountCredentials {
		t.Error("use-service-account-credentials on by default")
	}
	o, _, err = Daemon().Load([]string{"--kubeconfig", "/k", "--use-service-account-credentials"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.UseServiceAccountCredentials {
		t.Error("--use-service-account-credentials did not turn it on")
	}
}

// Every controller names the ServiceAccount it runs as, Kubernetes'
// name for it.
func TestControllerServiceAccounts(t *testing.T) {
	sas := ServiceAccounts()
	for _, name := range Names() {
		if sas[name] == "" {
			t.Errorf("controller %s has no service account", name)
		}
	}
	for name, want := range map[string]string{
		"deployment-controller":              "deployment-controller",
		"daemonset-controller":               "daemon-set-controller",
		"garbage-collector-controller":       "generic-garbage-collector",
		"endpoints-controller":               "endpoint-controller",
		"node-lifecycle-controller":          "node-controller",
		"csrapproving":                       "certificate-controller",
		"clusterrole-aggregation-controller": "clusterrole-aggregation-controller",
	} {
		if sas[name] != want {
			t.Errorf("service account of %s = %q, want %q", name, sas[name], want)
		}
	}
}
