package kubelet

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"coracle.dev/kubelet/internal/dns"
	"coracle.dev/kubelet/internal/eviction"
	"coracle.dev/kubelet/internal/sysctl"
)

// Runtimes the kubelet can run pods with.
const (
	RuntimeRunc = "runc"
	RuntimeFake = "fake"
)

// Ways the pods of other nodes are reached (--node-routes).
const (
	// NodeRoutesHostGW routes every other node's pod CIDR via its
	// InternalIP (the nodes share an L2 segment).
	NodeRoutesHostGW = "host-gw"
	// NodeRoutesVXLAN reaches them through a VXLAN overlay, as
	// flannel's vxlan backend does (the nodes need not share an L2
	// segment; UDP 8472 between their InternalIPs must pass).
	NodeRoutesVXLAN = "vxlan"
	// NodeRoutesNone leaves it to another agent.
	NodeRoutesNone = "none"
)

// Options is everything a kubelet needs. Flags, a YAML file and CORACLE_*
// variables fill it (see AddFlags and Daemon, which adds --log-level and
// --log-format); tests build it directly.
type Options struct {
	Kubeconfig string `mapstructure:"kubeconfig"`
	// BootstrapKubeconfig, when the Kubeconfig file has no valid client
	// certificate, is used to get one (see Bootstrap; New does not).
	BootstrapKubeconfig string `mapstructure:"bootstrap-kubeconfig"`
	// RotateCertificates renews the client certificate the bootstrap got
	// before it expires.
	RotateCertificates bool `mapstructure:"rotate-certificates"`
	// RotateServerCertificates gets the kubelet API's certificate through
	// a CSR, and renews it, when TLSCertFile is not given.
	RotateServerCertificates bool `mapstructure:"rotate-server-certificates"`

	NodeName      string `mapstructure:"node-name"`
	RootDir       string `mapstructure:"root-dir"`
	NodeIP        string `mapstructure:"node-ip"`
	PodCIDR       string `mapstructure:"pod-cidr"`
	Runtime       string `mapstructure:"runtime"`
	Address       string `mapstructure:"address"`
	Port          int    `mapstructure:"port"`
	StatusAddress string `mapstructure:"status-address"`

	FakeNodes        int           `mapstructure:"fake-nodes"`
	FakeStartupDelay time.Duration `mapstructure:"fake-startup-delay"`

	CNIBinDir    string `mapstructure:"cni-bin-dir"`
	CNIConfDir   string `mapstructure:"cni-conf-dir"`
	BridgeName   string `mapstructure:"bridge-name"`
	NetworkName  string `mapstructure:"network-name"`
	Runc         string `mapstructure:"runc"`
	ShimPath     string `mapstructure:"shim"` // kubelet-shim, each container's monitor
	CgroupRoot   string `mapstructure:"cgroup-root"`
	MaxPods      int    `mapstructure:"max-pods"`
	PodPidsLimit int64  `mapstructure:"pod-max-pids"`
	// AllowedUnsafeSysctls are the sysctls (or prefixes ending in *)
	// pods may set beyond the safe set.
	AllowedUnsafeSysctls []string `mapstructure:"allowed-unsafe-sysctls"`
	PodLogDir            string   `mapstructure:"pod-log-dir"`
	RegistryMirror       []string `mapstructure:"registry-mirror"`
	NodeRoutes           string   `mapstructure:"node-routes"`

	// Pods' DNS, as Kubernetes' kubelet forms it: ClusterDNS are the
	// cluster DNS servers of ClusterFirst pods (none: they get the
	// node's resolver configuration, with a MissingClusterDNS event),
	// ClusterDomain the domain their search list and subdomain FQDNs end
	// in, ResolvConf the node's resolver configuration every pod's
	// starts from ("" for none).
	ClusterDNS    []string `mapstructure:"cluster-dns"`
	ClusterDomain string   `mapstructure:"cluster-domain"`
	ResolvConf    string   `mapstructure:"resolv-conf"`

	ImageGCHighThreshold int `mapstructure:"image-gc-high-threshold"`
	ImageGCLowThreshold  int `mapstructure:"image-gc-low-threshold"`

	// Node-pressure eviction, with upstream's flags and formats (see
	// internal/eviction): EvictionHard and EvictionSoft are
	// SIGNAL<QUANTITY|PERCENT% lists, EvictionSoftGracePeriod and
	// EvictionMinimumReclaim SIGNAL=VALUE lists; SystemReserved and
	// KubeReserved NAME=QUANTITY lists (cpu, memory, ephemeral-storage,
	// pid) that node allocatable holds back with the hard thresholds;
	// EnforceNodeAllocatable "pods" evaluates the pods' cgroup against
	// allocatable memory (allocatableMemory.available), "none" does not.
	EvictionHard                     string        `mapstructure:"eviction-hard"`
	EvictionSoft                     string        `mapstructure:"eviction-soft"`
	EvictionSoftGracePeriod          string        `mapstructure:"eviction-soft-grace-period"`
	EvictionMaxPodGracePeriod        int64         `mapstructure:"eviction-max-pod-grace-period"`
	EvictionPressureTransitionPeriod time.Duration `mapstructure:"eviction-pressure-transition-period"`
	EvictionMinimumReclaim           string        `mapstructure:"eviction-minimum-reclaim"`
	SystemReserved                   string        `mapstructure:"system-reserved"`
	KubeReserved                     string        `mapstructure:"kube-reserved"`
	EnforceNodeAllocatable           []string      `mapstructure:"enforce-node-allocatable"`
	// EvictionMonitoringInterval is the time between two rounds of the
	// eviction manager (10s, as upstream's). Not a flag: tests shorten
	// it.
	EvictionMonitoringInterval time.Duration `mapstructure:"-"`

	ContainerLogMaxSize  string `mapstructure:"container-log-max-size"`
	ContainerLogMaxFiles int    `mapstructure:"container-log-max-files"`

	TLSCertFile  string `mapstructure:"tls-cert-file"`
	TLSKeyFile   string `mapstructure:"tls-private-key-file"`
	ClientCAFile string `mapstructure:"client-ca-file"`

	// Authentication and authorization of the kubelet API, as
	// Kubernetes' kubelet in webhook mode: client certificates of the
	// client CA, bearer tokens reviewed by the apiserver (TokenReview),
	// anonymous requests refused unless AnonymousAuth; each request
	// authorized by a SubjectAccessReview (AuthorizationMode Webhook).
	AnonymousAuth                  bool          `mapstructure:"anonymous-auth"`
	AuthenticationTokenWebhook     bool          `mapstructure:"authentication-token-webhook"`
	AuthenticationTokenWebhookTTL  time.Duration `mapstructure:"authentication-token-webhook-cache-ttl"`
	AuthorizationMode              string        `mapstructure:"authorization-mode"`
	AuthorizationWebhookAllowedTTL time.Duration `mapstructure:"authorization-webhook-cache-authorized-ttl"`
	AuthorizationWebhookDeniedTTL  time.Duration `mapstructure:"authorization-webhook-cache-unauthorized-ttl"`

	KubeAPIQPS   float32 `mapstructure:"kube-api-qps"`
	KubeAPIBurst int     `mapstructure:"kube-api-burst"`
	EventQPS     float32 `mapstructure:"event-qps"`
	EventBurst   int     `mapstructure:"event-burst"`

	NodeStatusUpdateFrequency time.Duration `mapstructure:"node-status-update-frequency"`
	NodeStatusReportFrequency time.Duration `mapstructure:"node-status-report-frequency"`
	NodeLeaseRenewInterval    time.Duration `mapstructure:"node-lease-renew-interval"`
	SyncFrequency             time.Duration `mapstructure:"sync-frequency"`
	// VolumeRefreshPeriod is how often the files of configMap, secret,
	// downwardAPI and projected volumes are rewritten from their
	// sources (tokens renewed when due).
	VolumeRefreshPeriod time.Duration `mapstructure:"volume-refresh-period"`

	// Static pods, as Kubernetes' kubelet: the pod manifests of
	// PodManifestPath (a directory, or one file), read on every change
	// and every FileCheckFrequency, and of ManifestURL (a pod or a
	// PodList), fetched every HTTPCheckFrequency, run without the API
	// and show in it as mirror pods.
	PodManifestPath    string        `mapstructure:"pod-manifest-path"`
	FileCheckFrequency time.Duration `mapstructure:"file-check-frequency"`
	ManifestURL        string        `mapstructure:"manifest-url"`
	HTTPCheckFrequency time.Duration `mapstructure:"http-check-frequency"`

	// Teardown makes Run remove what a kubelet left on the machine
	// instead of running one (see Teardown).
	Teardown bool `mapstructure:"teardown"`

	// Log is the logger; nil means no logs. Not a flag.
	Log *zap.Logger `mapstructure:"-"`
	// RESTConfig, when set, is used instead of --kubeconfig. Not a flag.
	RESTConfig *rest.Config `mapstructure:"-"`
}

// Modes of --authorization-mode.
const (
	// AuthorizationModeWebhook asks the apiserver with a
	// SubjectAccessReview.
	AuthorizationModeWebhook = "Webhook"
	// AuthorizationModeAlwaysAllow lets every authenticated request
	// through.
	AuthorizationModeAlwaysAllow = "AlwaysAllow"
)

// Defaults.
const (
	DefaultPort          = 10250
	DefaultStatusAddress = "127.0.0.1:10248"
	DefaultMaxPods       = 110
)

// AddFlags declares the kubelet's flags on fs with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	d := DefaultOptions()
	fs.String("kubeconfig", d.Kubeconfig, "kubeconfig with the apiserver's address and this node's credentials")
	fs.String("bootstrap-kubeconfig", d.BootstrapKubeconfig, "kubeconfig with a bootstrap token: when the --kubeconfig file does not exist or its client certificate expired, the kubelet requests a client certificate with it (a CertificateSigningRequest), stores it in --root-dir/pki/kubelet-client-current.pem and writes --kubeconfig pointing at it")
	fs.Bool("rotate-certificates", d.RotateCertificates, "renew the client certificate the bootstrap got, with a new CertificateSigningRequest, as its expiry approaches")
	fs.Bool("rotate-server-certificates", d.RotateServerCertificates, "without --tls-cert-file: request the kubelet API's serving certificate from the cluster (signer kubernetes.io/kubelet-serving, a CertificateSigningRequest that must be approved) and renew it as its expiry approaches, instead of a self-signed one")
	fs.String("node-name", d.NodeName, "name of this node (default: the host name)")
	fs.String("root-dir", d.RootDir, "directory for the kubelet's state: images, pods, runc state, certificates")
	fs.String("node-ip", d.NodeIP, "the node's InternalIP (default: the address of the interface with the default route)")
	fs.String("pod-cidr", d.PodCIDR, "pod CIDR to use until the node's spec.podCIDR is set")
	fs.String("runtime", d.Runtime, "runc, or fake (simulated nodes for scale tests; starts no process)")
	fs.String("address", d.Address, "address to serve the kubelet API (HTTPS) on")
	fs.Int("port", d.Port, "port of the kubelet API (0 picks a free port)")
	fs.String("status-address", d.StatusAddress, "address of /healthz, /readyz and /metrics (plain HTTP)")
	fs.Int("fake-nodes", d.FakeNodes, "with --runtime=fake: simulate this many nodes, named NODE-NAME-0 … NODE-NAME-N-1")
	fs.Duration("fake-startup-delay", d.FakeStartupDelay, "with --runtime=fake: how long a container takes to start")
	fs.String("node-routes", d.NodeRoutes, "how pods reach the pods of other nodes: host-gw (route each other node's pod CIDR via its InternalIP; the nodes share an L2 segment), vxlan (an overlay as flannel's: a VXLAN device coracle.1, VNI 1, UDP port 8472, its MAC published in the Node's vxlan.coracle.dev/vtep-mac annotation; for nodes on different L2 segments) or none (another agent routes); off with --runtime=fake")
	fs.StringSlice("cluster-dns", d.ClusterDNS, "Comma-separated list of DNS server IP address.  This value is used for containers DNS server in case of Pods with \"dnsPolicy=ClusterFirst\". Note: all DNS servers appearing in the list MUST serve the same set of records otherwise name resolution within the cluster may not work correctly. There is no guarantee as to which DNS server may be contacted for name resolution.")
	fs.String("cluster-domain", d.ClusterDomain, "Domain for this cluster.  If set, kubelet will configure all containers to search this domain in addition to the host's search domains")
	fs.String("resolv-conf", d.ResolvConf, "Resolver configuration file used as the basis for the container DNS resolution configuration.")
	fs.String("cni-bin-dir", d.CNIBinDir, "directory of the CNI plugins")
	fs.String("cni-conf-dir", d.CNIConfDir, "directory the kubelet writes its CNI network configuration to")
	fs.String("bridge-name", d.BridgeName, "Linux bridge the pods are attached to")
	fs.String("network-name", d.NetworkName, "name of the CNI network")
	fs.String("runc", d.Runc, "runc binary (default: runc from PATH)")
	fs.String("shim", d.ShimPath, "kubelet-shim binary (default: kubelet-shim or coracle-kubelet-shim beside the kubelet, else in PATH)")
	fs.String("cgroup-root", d.CgroupRoot, "cgroup under which pod cgroups are made")
	fs.Int("max-pods", d.MaxPods, "pods this node accepts (its pods capacity)")
	fs.Int64("pod-max-pids", d.PodPidsLimit, "most processes per container (0: no limit)")
	fs.StringSlice("allowed-unsafe-sysctls", d.AllowedUnsafeSysctls, "Comma-separated allowlist of unsafe sysctls or unsafe sysctl patterns (ending in *). Use these at your own risk.")
	fs.String("pod-log-dir", d.PodLogDir, "directory of container logs (<ns>_<pod>_<uid>/<container>/<restart>.log)")
	fs.StringSlice("registry-mirror", d.RegistryMirror, "REGISTRY=[http://]HOST[:PORT] pairs: pull images of REGISTRY from the mirror first (docker.io=127.0.0.1:5000); http:// means plain HTTP, as a loopback mirror always is")
	fs.Int("image-gc-high-threshold", d.ImageGCHighThreshold, "disk usage percent above which unused images are removed")
	fs.Int("image-gc-low-threshold", d.ImageGCLowThreshold, "disk usage percent image garbage collection frees down to")
	fs.String("eviction-hard", d.EvictionHard, "A set of eviction thresholds (e.g. memory.available<1Gi) that if met would trigger a pod eviction. Signals: memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, pid.available; values are quantities or percentages of the capacity")
	fs.String("eviction-soft", d.EvictionSoft, "A set of eviction thresholds (e.g. memory.available<1.5Gi) that if met over a corresponding grace period would trigger a pod eviction.")
	fs.String("eviction-soft-grace-period", d.EvictionSoftGracePeriod, "A set of eviction grace periods (e.g. memory.available=1m30s) that correspond to how long a soft eviction threshold must hold before triggering a pod eviction.")
	fs.Int64("eviction-max-pod-grace-period", d.EvictionMaxPodGracePeriod, "Maximum allowed grace period (in seconds) to use when terminating pods in response to a soft eviction threshold being met.  If negative, defer to pod specified value.")
	fs.Duration("eviction-pressure-transition-period", d.EvictionPressureTransitionPeriod, "Duration for which the kubelet has to wait before transitioning out of an eviction pressure condition.")
	fs.String("eviction-minimum-reclaim", d.EvictionMinimumReclaim, "A set of minimum reclaims (e.g. imagefs.available=2Gi) that describes the minimum amount of resource the kubelet will reclaim when performing a pod eviction if that resource is under pressure.")
	fs.String("system-reserved", d.SystemReserved, "A set of ResourceName=ResourceQuantity (e.g. cpu=200m,memory=500Mi,ephemeral-storage=1Gi,pid=1000) pairs that describe resources reserved for non-kubernetes components. [default=none]")
	fs.String("kube-reserved", d.KubeReserved, "A set of ResourceName=ResourceQuantity (e.g. cpu=200m,memory=500Mi,ephemeral-storage=1Gi,pid=1000) pairs that describe resources reserved for kubernetes system components. [default=none]")
	fs.StringSlice("enforce-node-allocatable", d.EnforceNodeAllocatable, "A comma separated list of levels of node allocatable enforcement to be enforced by kubelet: 'pods' (evict pods when the pods together use more memory than node allocatable: the allocatableMemory.available signal with the hard memory.available threshold) or 'none'")
	fs.String("container-log-max-size", d.ContainerLogMaxSize, "size at which a container log file is rotated")
	fs.Int("container-log-max-files", d.ContainerLogMaxFiles, "log files kept per container attempt, the current one included")
	fs.String("tls-cert-file", d.TLSCertFile, "serving certificate of the kubelet API (default: a self-signed one in --root-dir/pki)")
	fs.String("tls-private-key-file", d.TLSKeyFile, "key of --tls-cert-file")
	fs.String("client-ca-file", d.ClientCAFile, "CA whose client certificates the kubelet API accepts (user: the common name, groups: the organizations), the apiserver's among them (default: the kubeconfig's CA)")
	fs.Bool("anonymous-auth", d.AnonymousAuth, "let kubelet API requests without a credential through as system:anonymous (group system:unauthenticated), to be authorized as that user; off by default, as kubeadm sets it (Kubernetes' own default is on)")
	fs.Bool("authentication-token-webhook", d.AuthenticationTokenWebhook, "authenticate bearer tokens on the kubelet API with a TokenReview against the apiserver")
	fs.Duration("authentication-token-webhook-cache-ttl", d.AuthenticationTokenWebhookTTL, "how long the kubelet API reuses a TokenReview's answer")
	fs.String("authorization-mode", d.AuthorizationMode, "authorization of the kubelet API: Webhook (a SubjectAccessReview against the apiserver: a verb on nodes/proxy, nodes/stats, nodes/log, nodes/metrics, nodes/pods, …) or AlwaysAllow (every authenticated request)")
	fs.Duration("authorization-webhook-cache-authorized-ttl", d.AuthorizationWebhookAllowedTTL, "how long the kubelet API reuses an allowing SubjectAccessReview")
	fs.Duration("authorization-webhook-cache-unauthorized-ttl", d.AuthorizationWebhookDeniedTTL, "how long the kubelet API reuses a denying SubjectAccessReview")
	fs.Float32("kube-api-qps", d.KubeAPIQPS, "client-side rate limit of API requests per second (status writes, leases, reads); with fake nodes, per node. The default is high enough never to pace a node starting its pods (the kubelet's 50 did), since the apiserver's priority and fairness protects it; lower it to share a small apiserver")
	fs.Int("kube-api-burst", d.KubeAPIBurst, "client-side burst above --kube-api-qps; with fake nodes, per node")
	fs.Float32("event-qps", d.EventQPS, "client-side rate limit of event writes per second, on a client of their own")
	fs.Int("event-burst", d.EventBurst, "client-side burst above --event-qps")
	fs.Duration("node-status-update-frequency", d.NodeStatusUpdateFrequency, "how often the node's status is computed")
	fs.Duration("node-status-report-frequency", d.NodeStatusReportFrequency, "longest time between two node status writes")
	fs.Duration("node-lease-renew-interval", d.NodeLeaseRenewInterval, "how often the node's Lease is renewed")
	fs.Duration("sync-frequency", d.SyncFrequency, "how often every pod is synced with nothing to prompt it")
	fs.Duration("volume-refresh-period", d.VolumeRefreshPeriod, "how often the files of running pods' configMap, secret, downwardAPI and projected volumes are rewritten from their sources (atomically): ConfigMap and Secret changes reach the pods, ServiceAccount tokens are renewed at 80% of their life")
	fs.String("pod-manifest-path", d.PodManifestPath, "directory of static pod manifests (one pod a file; files starting with '.' are ignored), or one manifest file, to run and to publish as mirror pods")
	fs.Duration("file-check-frequency", d.FileCheckFrequency, "how often --pod-manifest-path is read again besides its changes")
	fs.String("manifest-url", d.ManifestURL, "URL of a static pod, or a PodList of static pods, to run")
	fs.Duration("http-check-frequency", d.HTTPCheckFrequency, "how often --manifest-url is fetched")
	fs.Bool("teardown", d.Teardown, "stop every container of --root-dir and remove every pod, network attachment, cgroup and the bridge, then exit (the kubelet must be stopped)")
}

// DefaultKubeAPIQPS and DefaultKubeAPIBurst are the kubelet's client-side
// limit: far above the kubelet's 50 and 100, which paced a node starting
// a hundred pods. The apiserver protects itself with priority and
// fairness (nodes' requests are in its system and node-high levels), so
// the client's limit only has to stop a runaway loop. Events, best
// effort, keep the kubelet's 50 and 100.
const (
	DefaultKubeAPIQPS   = 1000
	DefaultKubeAPIBurst = 2000
)

// DefaultOptions are the options AddFlags' defaults describe.
func DefaultOptions() Options {
	return Options{
		RootDir: "/var/lib/coracle/kubelet", Runtime: RuntimeRunc, Address: "0.0.0.0", Port: DefaultPort,
		StatusAddress: DefaultStatusAddress, FakeStartupDelay: 200 * time.Millisecond,
		NodeRoutes: NodeRoutesHostGW, ResolvConf: dns.DefaultResolvConf,
		CNIBinDir: "/usr/lib/cni", CNIConfDir: "/etc/cni/net.d", BridgeName: "cni0", NetworkName: "coracle",
		CgroupRoot: "/coracle", MaxPods: DefaultMaxPods, PodLogDir: "/var/log/pods",
		ImageGCHighThreshold: 85, ImageGCLowThreshold: 80,
		EvictionHard: eviction.DefaultEvictionHard, EvictionPressureTransitionPeriod: 5 * time.Minute,
		EnforceNodeAllocatable: []string{EnforceNodeAllocatablePods}, EvictionMonitoringInterval: eviction.DefaultInterval,
		ContainerLogMaxSize: "10Mi", ContainerLogMaxFiles: 5,
		KubeAPIQPS: DefaultKubeAPIQPS, KubeAPIBurst: DefaultKubeAPIBurst, EventQPS: 50, EventBurst: 100,
		NodeStatusUpdateFrequency: 10 * time.Second, NodeStatusReportFrequency: time.Minute,
		NodeLeaseRenewInterval: 10 * time.Second, SyncFrequency: 10 * time.Second,
		VolumeRefreshPeriod: time.Minute,
		FileCheckFrequency:  20 * time.Second, HTTPCheckFrequency: 20 * time.Second,
		AuthenticationTokenWebhook: true, AuthenticationTokenWebhookTTL: 2 * time.Minute,
		AuthorizationMode:              AuthorizationModeWebhook,
		AuthorizationWebhookAllowedTTL: 5 * time.Minute, AuthorizationWebhookDeniedTTL: 30 * time.Second,
	}
}

// Validate checks the options, naming the bad setting.
func (o *Options) Validate() error {
	var errs []error
	if o.Kubeconfig == "" && o.RESTConfig == nil {
		errs = append(errs, errors.New("--kubeconfig: required"))
	}
	if o.RootDir == "" {
		errs = append(errs, errors.New("--root-dir: required"))
	}
	if o.NodeIP != "" && net.ParseIP(o.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q: not an IP address", o.NodeIP))
	}
	for _, ip := range o.ClusterDNS {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("--cluster-dns %q: not an IP address", ip))
		}
	}
	if o.ClusterDomain != "" {
		if msgs := validation.IsDNS1123Subdomain(o.ClusterDomain); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--cluster-domain %q: %s", o.ClusterDomain, strings.Join(msgs, "; ")))
		}
	}
	if o.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(o.PodCIDR); err != nil {
			errs = append(errs, fmt.Errorf("--pod-cidr %q: %v", o.PodCIDR, err))
		}
	}
	if _, err := sysctl.NewAllowlist(nil, o.AllowedUnsafeSysctls); err != nil {
		errs = append(errs, fmt.Errorf("--allowed-unsafe-sysctls: %v", err))
	}
	switch o.Runtime {
	case RuntimeRunc:
		if o.FakeNodes > 0 {
			errs = append(errs, errors.New("--fake-nodes: only with --runtime=fake"))
		}
	case RuntimeFake:
		// One credential cannot be many nodes: NodeRestriction lets
		// system:node:NAME write node NAME only.
		if o.FakeNodes > 0 && o.BootstrapKubeconfig != "" {
			errs = append(errs, errors.New("--bootstrap-kubeconfig: not with --fake-nodes (a node credential is one node's)"))
		}
		if o.FakeNodes > 0 && o.RotateServerCertificates {
			errs = append(errs, errors.New("--rotate-server-certificates: not with --fake-nodes"))
		}
	default:
		errs = append(errs, fmt.Errorf("--runtime %q: want runc or fake", o.Runtime))
	}
	switch o.NodeRoutes {
	case NodeRoutesHostGW, NodeRoutesVXLAN, NodeRoutesNone:
	default:
		errs = append(errs, fmt.Errorf("--node-routes %q: want %s, %s or %s", o.NodeRoutes, NodeRoutesHostGW, NodeRoutesVXLAN, NodeRoutesNone))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: must be 0-65535", o.Port))
	}
	if len(o.BridgeName) == 0 || len(o.BridgeName) > 15 {
		errs = append(errs, fmt.Errorf("--bridge-name %q: must be 1-15 characters", o.BridgeName))
	}
	if !strings.HasPrefix(o.CgroupRoot, "/") {
		errs = append(errs, fmt.Errorf("--cgroup-root %q: must be absolute", o.CgroupRoot))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %g, --kube-api-burst %d: must be positive", o.KubeAPIQPS, o.KubeAPIBurst))
	}
	if o.EventQPS <= 0 || o.EventBurst < 1 {
		errs = append(errs, fmt.Errorf("--event-qps %g, --event-burst %d: must be positive", o.EventQPS, o.EventBurst))
	}
	if o.MaxPods < 1 {
		errs = append(errs, fmt.Errorf("--max-pods %d: must be at least 1", o.MaxPods))
	}
	if o.ImageGCLowThreshold > o.ImageGCHighThreshold || o.ImageGCHighThreshold > 100 || o.ImageGCLowThreshold < 0 {
		errs = append(errs, fmt.Errorf("--image-gc-low-threshold %d, --image-gc-high-threshold %d: want 0 ≤ low ≤ high ≤ 100", o.ImageGCLowThreshold, o.ImageGCHighThreshold))
	}
	if _, err := o.evictionThresholds(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := o.reserved(); err != nil {
		errs = append(errs, err)
	}
	for _, l := range o.EnforceNodeAllocatable {
		switch {
		case l == EnforceNodeAllocatableNone && len(o.EnforceNodeAllocatable) > 1:
			errs = append(errs, fmt.Errorf("--enforce-node-allocatable %q: none must be alone", strings.Join(o.EnforceNodeAllocatable, ",")))
		case l != EnforceNodeAllocatablePods && l != EnforceNodeAllocatableNone:
			errs = append(errs, fmt.Errorf("--enforce-node-allocatable %q: want pods or none (the kubelet has no system-reserved or kube-reserved cgroups)", l))
		}
	}
	if o.EvictionPressureTransitionPeriod < 0 {
		errs = append(errs, fmt.Errorf("--eviction-pressure-transition-period %v: must not be negative", o.EvictionPressureTransitionPeriod))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file: give both or neither"))
	}
	switch o.AuthorizationMode {
	case AuthorizationModeWebhook, AuthorizationModeAlwaysAllow:
	default:
		errs = append(errs, fmt.Errorf("--authorization-mode %q: want %s or %s", o.AuthorizationMode, AuthorizationModeWebhook, AuthorizationModeAlwaysAllow))
	}
	if o.AuthenticationTokenWebhookTTL < 0 || o.AuthorizationWebhookAllowedTTL < 0 || o.AuthorizationWebhookDeniedTTL < 0 {
		errs = append(errs, errors.New("--authentication-token-webhook-cache-ttl, --authorization-webhook-cache-authorized-ttl, --authorization-webhook-cache-unauthorized-ttl: must not be negative"))
	}
	if o.VolumeRefreshPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--volume-refresh-period %v: must be positive", o.VolumeRefreshPeriod))
	}
	if o.FileCheckFrequency <= 0 || o.HTTPCheckFrequency <= 0 {
		errs = append(errs, fmt.Errorf("--file-check-frequency %v, --http-check-frequency %v: must be positive", o.FileCheckFrequency, o.HTTPCheckFrequency))
	}
	for _, m := range o.RegistryMirror {
		if k, v, ok := strings.Cut(m, "="); !ok || k == "" || v == "" {
			errs = append(errs, fmt.Errorf("--registry-mirror %q: want REGISTRY=HOST[:PORT]", m))
		}
	}
	return errors.Join(errs...)
}

// Levels of --enforce-node-allocatable.
const (
	EnforceNodeAllocatablePods = "pods"
	EnforceNodeAllocatableNone = "none"
)

// evictionThresholds parses the eviction flags.
func (o *Options) evictionThresholds() ([]eviction.Threshold, error) {
	enforcePods := false
	for _, l := range o.EnforceNodeAllocatable {
		enforcePods = enforcePods || l == EnforceNodeAllocatablePods
	}
	return eviction.ParseThresholds(eviction.Flags{
		Hard: o.EvictionHard, Soft: o.EvictionSoft, SoftGracePeriod: o.EvictionSoftGracePeriod,
		MinimumReclaim: o.EvictionMinimumReclaim, EnforcePods: enforcePods,
	})
}

// reserved parses --system-reserved and --kube-reserved.
func (o *Options) reserved() (system, kube v1.ResourceList, err error) {
	if system, err = eviction.ParseResourceList("--system-reserved", o.SystemReserved); err != nil {
		return nil, nil, err
	}
	if kube, err = eviction.ParseResourceList("--kube-reserved", o.KubeReserved); err != nil {
		return nil, nil, err
	}
	return system, kube, nil
}

// nodeNames lists the nodes this kubelet is: one, or with fake nodes
// NAME-0 … NAME-N-1.
func (o *Options) nodeNames() []string {
	if o.Runtime == RuntimeFake && o.FakeNodes > 0 {
		out := make([]string, o.FakeNodes)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", o.NodeName, i)
		}
		return out
	}
	return []string{o.NodeName}
}
