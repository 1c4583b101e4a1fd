package controller

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"
)

// Settings are the knobs of individual controllers. The manager's
// Options embed them, so the flagged ones are also its YAML keys and
// CORACLE_* variables: a new setting is a field here, its flag in
// AddFlags, its default in DefaultSettings and, if it can be wrong, a
// check in Validate; the controller reads it from Context.Settings.
type Settings struct {
	// ClusterCIDR and NodeCIDRMaskSize drive node IPAM; an empty
	// ClusterCIDR turns it off.
	ClusterCIDR      string `mapstructure:"cluster-cidr"`
	NodeCIDRMaskSize int    `mapstructure:"node-cidr-mask-size"`
	// NodeMonitorPeriod and NodeMonitorGracePeriod drive node lifecycle.
	NodeMonitorGracePeriod time.Duration `mapstructure:"node-monitor-grace-period"`
	NodeMonitorPeriod      time.Duration `mapstructure:"node-monitor-period"`
	// TerminatedPodGCThreshold is how many finished pods the pod GC keeps.
	TerminatedPodGCThreshold int `mapstructure:"terminated-pod-gc-threshold"`
	// ClusterSigningCertFile and ClusterSigningKeyFile are the CA the
	// CSR signer issues certificates with (PEM); without both it is off.
	// ClusterSigningDuration is the longest certificate it issues.
	ClusterSigningCertFile string        `mapstructure:"cluster-signing-cert-file"`
	ClusterSigningKeyFile  string        `mapstructure:"cluster-signing-key-file"`
	ClusterSigningDuration time.Duration `mapstructure:"cluster-signing-duration"`
	// ResourceQuotaSyncPeriod is how often every ResourceQuota's usage
	// is recounted in full.
	ResourceQuotaSyncPeriod time.Duration `mapstructure:"resource-quota-sync-period"`
	// PVClaimBinderSyncPeriod is how often the persistentvolume controller
	// syncs every claim and volume again.
	PVClaimBinderSyncPeriod time.Duration `mapstructure:"pvclaimbinder-sync-period"`

	// AddonManifestsDir is the directory of add-on manifests the add-on
	// manager applies; empty turns it off. DisableAddons names add-ons
	// (manifest file names without extension) it must not run.
	AddonManifestsDir string   `mapstructure:"addon-manifests-dir"`
	DisableAddons     []string `mapstructure:"disable-addons"`

	// RootCA is the PEM the root CA publisher writes into every
	// namespace; the manager reads it from --root-ca-file or the
	// kubeconfig.
	RootCA []byte `mapstructure:"-"`

	// Tuning for tests, no flags: zero means the production default.
	//
	// PodGCPeriod is how often the pod GC looks; 0 means 20s.
	PodGCPeriod time.Duration `mapstructure:"-"`
	// JobBackoffBase and JobBackoffMax bound a Job's pod re-creation
	// back-off; 0 means 10s and 6m as in Kubernetes.
	JobBackoffBase time.Duration `mapstructure:"-"`
	JobBackoffMax  time.Duration `mapstructure:"-"`
	// GCResyncPeriod is how often the garbage collector looks for newly
	// served resources; 0 means 30s.
	GCResyncPeriod time.Duration `mapstructure:"-"`
	// AddonResyncPeriod is how often every add-on is applied again;
	// 0 means a minute.
	AddonResyncPeriod time.Duration `mapstructure:"-"`
}

// DefaultSettings are Kubernetes' defaults where Kubernetes has one.
func DefaultSettings() Settings {
	return Settings{
		ClusterCIDR:              "10.244.0.0/16",
		NodeCIDRMaskSize:         24,
		NodeMonitorGracePeriod:   40 * time.Second,
		NodeMonitorPeriod:        5 * time.Second,
		TerminatedPodGCThreshold: 12500,
		ClusterSigningDuration:   365 * 24 * time.Hour,
		ResourceQuotaSyncPeriod:  5 * time.Minute,
		PVClaimBinderSyncPeriod:  15 * time.Second,
	}
}

// AddFlags declares the settings' flags, with s's values as defaults.
func (s *Settings) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.ClusterCIDR, "cluster-cidr", s.ClusterCIDR, "pod CIDR of the cluster, cut into one podCIDR per node; empty turns node IPAM off")
	fs.IntVar(&s.NodeCIDRMaskSize, "node-cidr-mask-size", s.NodeCIDRMaskSize, "prefix length of each node's podCIDR")
	fs.DurationVar(&s.NodeMonitorGracePeriod, "node-monitor-grace-period", s.NodeMonitorGracePeriod, "how long a node may go without renewing its Lease or status before it is Unknown")
	fs.DurationVar(&s.NodeMonitorPeriod, "node-monitor-period", s.NodeMonitorPeriod, "how often node health is checked")
	fs.IntVar(&s.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", s.TerminatedPodGCThreshold, "finished pods kept before the oldest are deleted; 0 or less keeps all")
	fs.StringVar(&s.ClusterSigningCertFile, "cluster-signing-cert-file", s.ClusterSigningCertFile, "PEM CA certificate the CSR signer issues cluster-scoped certificates with; without it and --cluster-signing-key-file no CSR is signed")
	fs.StringVar(&s.ClusterSigningKeyFile, "cluster-signing-key-file", s.ClusterSigningKeyFile, "PEM private key of --cluster-signing-cert-file")
	fs.DurationVar(&s.ResourceQuotaSyncPeriod, "resource-quota-sync-period", s.ResourceQuotaSyncPeriod, "how often every ResourceQuota's usage is recounted in full")
	fs.DurationVar(&s.PVClaimBinderSyncPeriod, "pvclaimbinder-sync-period", s.PVClaimBinderSyncPeriod, "the period for syncing persistent volumes and persistent volume claims")
	fs.StringVar(&s.AddonManifestsDir, "addon-manifests-dir", s.AddonManifestsDir, "directory of add-on manifests (NAME.yaml) applied at start, on every change and every minute; empty turns the add-on manager off")
	fs.StringSliceVar(&s.DisableAddons, "disable-addons", s.DisableAddons, "add-ons (manifest names without extension, e.g. dns,ingress) not to run: their objects are deleted")
	fs.DurationVar(&s.ClusterSigningDuration, "cluster-signing-duration", s.ClusterSigningDuration, "the longest certificate the CSR signer issues; a CSR may ask for less with spec.expirationSeconds")
}

// Validate checks the settings; it returns every problem it finds.
func (s Settings) Validate() error {
	var errs []error
	if s.ClusterCIDR != "" {
		_, cidr, err := net.ParseCIDR(s.ClusterCIDR)
		if err != nil {
			errs = append(errs, fmt.Errorf("--cluster-cidr: %w", err))
		} else {
			ones, bits := cidr.Mask.Size()
			if s.NodeCIDRMaskSize < ones || s.NodeCIDRMaskSize > bits || s.NodeCIDRMaskSize-ones > 16 {
				errs = append(errs, fmt.Errorf("--node-cidr-mask-size %d: must be between %d and %d and cut the cluster CIDR into at most 65536 ranges", s.NodeCIDRMaskSize, ones, bits))
			}
		}
	}
	if s.NodeMonitorPeriod <= 0 || s.NodeMonitorGracePeriod <= 0 {
		errs = append(errs, errors.New("--node-monitor-period and --node-monitor-grace-period must be positive"))
	}
	if s.ResourceQuotaSyncPeriod <= 0 {
		errs = append(errs, errors.New("--resource-quota-sync-period must be positive"))
	}
	if s.PVClaimBinderSyncPeriod <= 0 {
		errs = append(errs, errors.New("--pvclaimbinder-sync-period must be positive"))
	}
	if s.ClusterSigningDuration <= 0 {
		errs = append(errs, errors.New("--cluster-signing-duration must be positive"))
	}
	return errors.Join(errs...)
}
