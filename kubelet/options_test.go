package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args ...string) (Options, error) {
	t.Helper()
	opts, _, err := Daemon().Load(args)
	return opts, err
}

// The example configuration shipped in deploy/ must load with the
// binary's flags (log-level and log-format are component.Main's) and
// validate.
func TestExampleConfigLoads(t *testing.T) {
	opts, err := load(t, "--config", "../deploy/config/kubelet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Kubeconfig != "/etc/coracle/kubelet.conf" || opts.BootstrapKubeconfig != "/etc/coracle/bootstrap-kubelet.conf" ||
		!opts.RotateServerCertificates || opts.NodeRoutes != NodeRoutesHostGW || opts.EventQPS != 50 || opts.Teardown {
		t.Errorf("loaded %+v", opts)
	}
	if err := opts.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	if len(opts.ClusterDNS) != 1 || opts.ClusterDNS[0] != "10.96.0.10" || opts.ClusterDomain != "cluster.local" || opts.ResolvConf != "/etc/resolv.conf" {
		t.Errorf("DNS settings: cluster-dns %q cluster-domain %q resolv-conf %q", opts.ClusterDNS, opts.ClusterDomain, opts.ResolvConf)
	}
}

// The DNS flags as Kubernetes' kubelet has them: no cluster DNS or
// domain by default, the node's /etc/resolv.conf, and --resolv-conf=""
// for none.
func TestDNSFlags(t *testing.T) {
	opts, err := load(t, "--kubeconfig", "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.ClusterDNS) != 0 || opts.ClusterDomain != "" || opts.ResolvConf != "/etc/resolv.conf" {
		t.Errorf("defaults: cluster-dns %q cluster-domain %q resolv-conf %q", opts.ClusterDNS, opts.ClusterDomain, opts.ResolvConf)
	}
	opts, err = load(t, "--kubeconfig", "/k", "--cluster-dns", "10.96.0.10,10.96.0.11", "--cluster-domain", "corp.internal", "--resolv-conf=")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(opts.ClusterDNS, ",") != "10.96.0.10,10.96.0.11" || opts.ClusterDomain != "corp.internal" || opts.ResolvConf != "" {
		t.Errorf("flags: cluster-dns %q cluster-domain %q resolv-conf %q", opts.ClusterDNS, opts.ClusterDomain, opts.ResolvConf)
	}

	// In the config file too, "" is none rather than the default.
	file := filepath.Join(t.TempDir(), "kubelet.yaml")
	if err := os.WriteFile(file, []byte("kubeconfig: /k\ncluster-dns: [10.96.0.10]\nresolv-conf: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if opts, err = load(t, "--config", file); err != nil {
		t.Fatal(err)
	}
	if strings.Join(opts.ClusterDNS, ",") != "10.96.0.10" || opts.ResolvConf != "" {
		t.Errorf("config file: cluster-dns %q resolv-conf %q", opts.ClusterDNS, opts.ResolvConf)
	}
}

func TestFlagsOverrideDefaults(t *testing.T) {
	opts, err := load(t, "--kubeconfig", "/k", "--teardown", "--runtime", "fake", "--fake-nodes", "3",
		"--sync-frequency", "2s", "--registry-mirror", "docker.io=127.0.0.1:5000", "--log-level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.Teardown || opts.Runtime != RuntimeFake || opts.FakeNodes != 3 || opts.SyncFrequency != 2*time.Second ||
		len(opts.RegistryMirror) != 1 || opts.RegistryMirror[0] != "docker.io=127.0.0.1:5000" {
		t.Errorf("loaded %+v", opts)
	}
	opts.NodeName = "sim"
	if got := strings.Join(opts.nodeNames(), ","); got != "sim-0,sim-1,sim-2" {
		t.Errorf("node names %s", got)
	}
	if def := DefaultOptions(); def.Port != DefaultPort || def.StatusAddress != DefaultStatusAddress || def.Teardown {
		t.Errorf("defaults %+v", def)
	}
}

// The kubelet API is locked down by default, as kubeadm configures
// Kubernetes' kubelet: no anonymous requests, tokens reviewed, every
// request authorized by the apiserver.
func TestKubeletAPIAuthDefaults(t *testing.T) {
	opts, err := load(t, "--kubeconfig", "/k")
	if err != nil {
		t.Fatal(err)
	}
	if opts.AnonymousAuth || !opts.AuthenticationTokenWebhook || opts.AuthorizationMode != AuthorizationModeWebhook ||
		opts.AuthenticationTokenWebhookTTL != 2*time.Minute || opts.AuthorizationWebhookAllowedTTL != 5*time.Minute ||
		opts.AuthorizationWebhookDeniedTTL != 30*time.Second || opts.VolumeRefreshPeriod != time.Minute {
		t.Errorf("defaults %+v", opts)
	}
	opts, err = load(t, "--kubeconfig", "/k", "--anonymous-auth", "--authentication-token-webhook=false", "--authorization-mode", "AlwaysAllow")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.AnonymousAuth || opts.AuthenticationTokenWebhook || opts.AuthorizationMode != AuthorizationModeAlwaysAllow {
		t.Errorf("flags %+v", opts)
	}
}

func TestValidate(t *testing.T) {
	base := func() Options { o := DefaultOptions(); o.Kubeconfig = "/k"; return o }
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"defaults with a kubeconfig are valid", func(*Options) {}, ""},
		{"kubeconfig required", func(o *Options) { o.Kubeconfig = "" }, "--kubeconfig"},
		{"fake nodes only with the fake runtime", func(o *Options) { o.FakeNodes = 2 }, "--fake-nodes"},
		{"unknown runtime", func(o *Options) { o.Runtime = "docker" }, "--runtime"},
		{"bridge name too long", func(o *Options) { o.BridgeName = "a-very-long-bridge" }, "--bridge-name"},
		{"events need a rate", func(o *Options) { o.EventQPS = 0 }, "--event-qps"},
		{"mirror without a host", func(o *Options) { o.RegistryMirror = []string{"docker.io"} }, "--registry-mirror"},
		{"routes host-gw, vxlan or none", func(o *Options) { o.NodeRoutes = "udp" }, "--node-routes"},
		{"routes vxlan is valid", func(o *Options) { o.NodeRoutes = NodeRoutesVXLAN }, ""},
		{"routes off is valid", func(o *Options) { o.NodeRoutes = NodeRoutesNone }, ""},
		{"a bootstrap with one node is valid", func(o *Options) {
			o.BootstrapKubeconfig, o.RotateCertificates, o.RotateServerCertificates = "/b", true, true
		}, ""},
		{"one node credential is not many fake nodes", func(o *Options) {
			o.Runtime, o.FakeNodes, o.BootstrapKubeconfig = RuntimeFake, 3, "/b"
		}, "--bootstrap-kubeconfig"},
		{"one serving certificate is not many fake nodes", func(o *Options) {
			o.Runtime, o.FakeNodes, o.RotateServerCertificates = RuntimeFake, 3, true
		}, "--rotate-server-certificates"},
		{"authorization Webhook or AlwaysAllow", func(o *Options) { o.AuthorizationMode = "RBAC" }, "--authorization-mode"},
		{"authorization AlwaysAllow is valid", func(o *Options) { o.AuthorizationMode = AuthorizationModeAlwaysAllow }, ""},
		{"cache lifetimes are not negative", func(o *Options) { o.AuthorizationWebhookDeniedTTL = -time.Second }, "--authorization-webhook-cache-unauthorized-ttl"},
		{"volumes are refreshed", func(o *Options) { o.VolumeRefreshPeriod = 0 }, "--volume-refresh-period"},
		{"cluster DNS servers are addresses", func(o *Options) { o.ClusterDNS = []string{"10.96.0.10", "kube-dns"} }, `--cluster-dns "kube-dns"`},
		{"IPv4 and IPv6 cluster DNS servers are valid", func(o *Options) { o.ClusterDNS = []string{"10.96.0.10", "fd00::a"} }, ""},
		{"the cluster domain is a DNS name", func(o *Options) { o.ClusterDomain = "Cluster_Local" }, "--cluster-domain"},
		{"no resolv.conf is valid", func(o *Options) { o.ResolvConf = "" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.change(&o)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// The eviction flags as upstream's: the Linux default hard thresholds,
// a 5m transition period, pods allocatable enforced; bad entries are
// errors naming the flag and the entry.
func TestEvictionFlags(t *testing.T) {
	opts, err := load(t, "--kubeconfig", "/k")
	if err != nil {
		t.Fatal(err)
	}
	if opts.EvictionHard != "memory.available<100Mi,nodefs.available<10%,imagefs.available<15%,nodefs.inodesFree<5%" ||
		opts.EvictionPressureTransitionPeriod != 5*time.Minute || strings.Join(opts.EnforceNodeAllocatable, ",") != "pods" ||
		opts.EvictionMaxPodGracePeriod != 0 || opts.SystemReserved != "" || opts.KubeReserved != "" {
		t.Errorf("defaults: %+v", opts)
	}
	th, err := opts.evictionThresholds()
	if err != nil {
		t.Fatal(err)
	}
	if len(th) != 5 || th[4].Signal != "allocatableMemory.available" {
		t.Errorf("default thresholds %v: want the four of --eviction-hard and allocatableMemory.available", th)
	}

	opts, err = load(t, "--kubeconfig", "/k", "--eviction-hard", "memory.available<1Gi,pid.available<5%",
		"--eviction-soft", "memory.available<2Gi", "--eviction-soft-grace-period", "memory.available=1m30s",
		"--eviction-max-pod-grace-period", "30", "--eviction-pressure-transition-period", "30s",
		"--eviction-minimum-reclaim", "memory.available=500Mi", "--system-reserved", "memory=1Gi,cpu=500m",
		"--kube-reserved", "memory=256Mi,pid=1000", "--enforce-node-allocatable", "none")
	if err != nil {
		t.Fatal(err)
	}
	if err := opts.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if th, _ := opts.evictionThresholds(); len(th) != 3 {
		t.Errorf("thresholds %v: want 3, none for allocatable with --enforce-node-allocatable=none", th)
	}
	system, kube, _ := opts.reserved()
	if system.Memory().String() != "1Gi" || system.Cpu().String() != "500m" || kube.Memory().String() != "256Mi" {
		t.Errorf("reserved: system %v kube %v", system, kube)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--eviction-hard", "memory.available>1Gi"}, `--eviction-hard "memory.available>1Gi": want SIGNAL<QUANTITY or SIGNAL<PERCENT%`},
		{[]string{"--eviction-soft", "nodefs.available<20%"}, "--eviction-soft-grace-period: no grace period for soft threshold nodefs.available"},
		{[]string{"--system-reserved", "memory=lots"}, `--system-reserved "memory=lots"`},
		{[]string{"--kube-reserved", "gpu=1"}, `--kube-reserved "gpu=1": cannot reserve "gpu"`},
		{[]string{"--enforce-node-allocatable", "pods,system-reserved"}, `--enforce-node-allocatable "system-reserved": want pods or none`},
		{[]string{"--enforce-node-allocatable", "pods,none"}, "none must be alone"},
		{[]string{"--eviction-pressure-transition-period", "-1s"}, "--eviction-pressure-transition-period -1s: must not be negative"},
	} {
		opts, err := load(t, append([]string{"--kubeconfig", "/k"}, c.args...)...)
		if err == nil {
			err = opts.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}
