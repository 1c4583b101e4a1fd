package app

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"
)

// Proxy modes.
const (
	ModeIPTables = "iptables"
	ModeNFTables = "nftables"
)

// Config is everything kube-proxy needs. Flags, a YAML file (keys are
// flag names) and CORACLE_* variables fill it (see AddFlags); tests build
// it directly.
type Config struct {
	Kubeconfig         string        `mapstructure:"kubeconfig"`
	NodeName           string        `mapstructure:"node-name"`
	ClusterCIDR        string        `mapstructure:"cluster-cidr"`
	ProxyMode          string        `mapstructure:"proxy-mode"`
	Cleanup            bool          `mapstructure:"cleanup"`
	BindAddress        string        `mapstructure:"bind-address"`
	MetricsBindAddress string        `mapstructure:"metrics-bind-address"`
	MinSyncPeriod      time.Duration `mapstructure:"min-sync-period"`
	SyncPeriod         time.Duration `mapstructure:"sync-period"`
	KubeAPIQPS         float32       `mapstructure:"kube-api-qps"`
	KubeAPIBurst       int           `mapstructure:"kube-api-burst"`

	// Log is the logger; nil means no logs. Not a flag.
	Log *zap.Logger `mapstructure:"-"`
	// RESTConfig, when set, is used instead of Kubeconfig. Not a flag.
	RESTConfig *rest.Config `mapstructure:"-"`
}

// Defaults, as upstream kube-proxy's.
const (
	DefaultMetricsBindAddress = "127.0.0.1:10256"
	DefaultMinSyncPeriod      = time.Second
	DefaultSyncPeriod         = 30 * time.Second
	DefaultKubeAPIQPS         = 5
	DefaultKubeAPIBurst       = 10
)

// AddFlags declares kube-proxy's flags on fs with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("kubeconfig", d.Kubeconfig, "kubeconfig of the apiserver (required, except with --cleanup)")
	fs.String("node-name", d.NodeName, "name of this node: its endpoints are the local ones (default: the host name)")
	fs.String("cluster-cidr", d.ClusterCIDR, "the pods' address range (10.244.0.0/16); traffic to cluster IPs from outside it is masqueraded. Empty: none is")
	fs.String("proxy-mode", d.ProxyMode, "iptables (nftables is not implemented yet)")
	fs.Bool("cleanup", d.Cleanup, "remove every chain and rule kube-proxy made, then exit")
	fs.String("bind-address", d.BindAddress, "this node's IP address, used when its Node object has none (default: none)")
	fs.String("metrics-bind-address", d.MetricsBindAddress, "address of /healthz, /readyz and /metrics (plain HTTP; port 0 picks one)")
	fs.Duration("min-sync-period", d.MinSyncPeriod, "least time between two syncs of the rules once two have run back to back")
	fs.Duration("sync-period", d.SyncPeriod, "how often the rules are checked, and rewritten if someone else changed them")
	fs.Float32("kube-api-qps", d.KubeAPIQPS, "client-side rate limit of API requests per second")
	fs.Int("kube-api-burst", d.KubeAPIBurst, "client-side burst above --kube-api-qps")
}

// DefaultConfig is the configuration AddFlags' defaults describe.
func DefaultConfig() Config {
	return Config{
		ProxyMode: ModeIPTables, MetricsBindAddress: DefaultMetricsBindAddress,
		MinSyncPeriod: DefaultMinSyncPeriod, SyncPeriod: DefaultSyncPeriod,
		KubeAPIQPS: DefaultKubeAPIQPS, KubeAPIBurst: DefaultKubeAPIBurst,
	}
}

// ErrNotImplemented is returned for --proxy-mode nftables.
var ErrNotImplemented = errors.New("not implemented yet")

// Complete fills what has a computed default (the node name).
func (c *Config) Complete() error {
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node-name: none given and no host name: %w", err)
		}
		c.NodeName = h
	}
	return nil
}

// Validate checks the configuration, naming each bad setting.
func (c *Config) Validate() error {
	var errs []error
	switch c.ProxyMode {
	case ModeIPTables, "":
	case ModeNFTables:
		errs = append(errs, fmt.Errorf("--proxy-mode nftables: %w", ErrNotImplemented))
	default:
		errs = append(errs, fmt.Errorf("--proxy-mode %q: want iptables or nftables", c.ProxyMode))
	}
	if c.Cleanup {
		return errors.Join(errs...)
	}
	if c.Kubeconfig == "" && c.RESTConfig == nil {
		errs = append(errs, errors.New("--kubeconfig: required"))
	}
	if c.NodeName == "" {
		errs = append(errs, errors.New("--node-name: required"))
	}
	if c.ClusterCIDR != "" {
		if ip, _, err := net.ParseCIDR(c.ClusterCIDR); err != nil || ip.To4() == nil {
			errs = append(errs, fmt.Errorf("--cluster-cidr %q: not an IPv4 CIDR", c.ClusterCIDR))
		}
	}
	if c.BindAddress != "" && net.ParseIP(c.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q: not an IP address", c.BindAddress))
	}
	if _, _, err := net.SplitHostPort(c.MetricsBindAddress); err != nil {
		errs = append(errs, fmt.Errorf("--metrics-bind-address %q: %v", c.MetricsBindAddress, err))
	}
	if c.MinSyncPeriod < 0 {
		errs = append(errs, fmt.Errorf("--min-sync-period %v: must not be negative", c.MinSyncPeriod))
	}
	if c.SyncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--sync-period %v: must be positive", c.SyncPeriod))
	}
	if c.KubeAPIQPS <= 0 || c.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v, --kube-api-burst %d: must be positive", c.KubeAPIQPS, c.KubeAPIBurst))
	}
	return errors.Join(errs...)
}
