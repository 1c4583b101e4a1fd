package app

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"coracle.dev/scheduler/internal/plugins/volumebinding"
	"coracle.dev/scheduler/internal/queue"
	"coracle.dev/scheduler/internal/scheduler"
)

// Config is everything a scheduler needs. Flags, a YAML file (keys are
// flag names) and CORACLE_* variables fill it (see AddFlags); tests build
// it directly.
type Config struct {
	Kubeconfig                   string        `mapstructure:"kubeconfig"`
	SchedulerName                string        `mapstructure:"scheduler-name"`
	LeaderElect                  bool          `mapstructure:"leader-elect"`
	LeaderElectLeaseDuration     time.Duration `mapstructure:"leader-elect-lease-duration"`
	LeaderElectRenewDeadline     time.Duration `mapstructure:"leader-elect-renew-deadline"`
	LeaderElectRetryPeriod       time.Duration `mapstructure:"leader-elect-retry-period"`
	LeaderElectResourceName      string        `mapstructure:"leader-elect-resource-name"`
	LeaderElectResourceNamespace string        `mapstructure:"leader-elect-resource-namespace"`
	StatusAddress                string        `mapstructure:"status-address"`
	PercentageOfNodesToScore     int           `mapstructure:"percentage-of-nodes-to-score"`
	Parallelism                  int           `mapstructure:"parallelism"`
	MaxConcurrentBinds           int           `mapstructure:"max-concurrent-binds"`
	KubeAPIQPS                   float32       `mapstructure:"kube-api-qps"`
	KubeAPIBurst                 int           `mapstructure:"kube-api-burst"`
	EventQPS                     float32       `mapstructure:"event-qps"`
	EventBurst                   int           `mapstructure:"event-burst"`
	PodInitialBackoff            time.Duration `mapstructure:"pod-initial-backoff"`
	PodMaxBackoff                time.Duration `mapstructure:"pod-max-backoff"`
	// VolumeBindingTimeoutSeconds is the VolumeBinding plugin's
	// bindTimeoutSeconds.
	VolumeBindingTimeoutSeconds int `mapstructure:"volume-binding-timeout-seconds"`

	// Not flags: what tests and embedders inject.

	// Log is the logger; nil means no logs.
	Log *zap.Logger `mapstructure:"-"`
	// RESTConfig, when set, is used instead of Kubeconfig.
	RESTConfig *rest.Config `mapstructure:"-"`
	// Clock drives back-off and expiry; nil is the real clock.
	Clock clock.WithTicker `mapstructure:"-"`
	// Seed fixes random tie-breaking; 0 is random.
	Seed uint64 `mapstructure:"-"`
	// Identity names this replica in the Lease; "" is hostname_uuid.
	Identity string `mapstructure:"-"`
	// InformerFactory, when set, is shared with the caller (who may add
	// handlers of its own before Start); the scheduler starts it.
	InformerFactory informers.SharedInformerFactory `mapstructure:"-"`
}

// Defaults. The lease timings are shorter than kube-scheduler's 15s/10s/2s
// so that a standby takes over within 15 seconds of the leader dying even
// in the worst case (lease 10s, plus up to 2.2s each for the standby to
// see the last renewal and to retry); the Lease traffic is one small
// write a second.
const (
	DefaultStatusAddress            = "127.0.0.1:10259"
	DefaultLeaseDuration            = 10 * time.Second
	DefaultRenewDeadline            = 7 * time.Second
	DefaultRetryPeriod              = time.Second
	DefaultLeaderElectResourceName  = "kube-scheduler"
	DefaultLeaderElectResourceSpace = "kube-system"
	// DefaultKubeAPIQPS and DefaultKubeAPIBurst are far above
	// kube-scheduler's 50 and 100, which bound a burst of pods to 50
	// bindings a second here while the scheduler decides and the
	// apiserver binds over 800: the apiserver protects itself with
	// priority and fairness (the scheduler's requests are in its
	// workload-high level), so the client's limit only has to stop a
	// runaway loop, not pace the work.
	DefaultKubeAPIQPS   = 1000
	DefaultKubeAPIBurst = 2000
	// DefaultEventQPS and DefaultEventBurst keep events, which are best
	// effort, at kube-scheduler's pace: one event per binding would
	// otherwise cost the apiserver a third of its writes in a burst.
	DefaultEventQPS   = 50
	DefaultEventBurst = 100
)

// AddFlags declares the scheduler's flags on fs with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("kubeconfig", "", "kubeconfig of the apiserver to schedule for (required)")
	fs.String("scheduler-name", scheduler.DefaultSchedulerName, "schedule the pods whose spec.schedulerName is this")
	fs.Bool("leader-elect", false, "run only while holding the Lease --leader-elect-resource-name in --leader-elect-resource-namespace, for high availability")
	fs.Duration("leader-elect-lease-duration", DefaultLeaseDuration, "how long a standby waits after the leader's last renewal before taking over")
	fs.Duration("leader-elect-renew-deadline", DefaultRenewDeadline, "how long the leader keeps trying to renew before it stops")
	fs.Duration("leader-elect-retry-period", DefaultRetryPeriod, "how often replicas renew or try to acquire the Lease")
	fs.String("leader-elect-resource-name", DefaultLeaderElectResourceName, "name of the Lease")
	fs.String("leader-elect-resource-namespace", DefaultLeaderElectResourceSpace, "namespace of the Lease")
	fs.String("status-address", DefaultStatusAddress, "address serving /healthz, /readyz and /metrics over HTTP (port 0 picks one)")
	fs.Int("percentage-of-nodes-to-score", 0, "percentage of nodes to find feasible before scoring in large clusters; 0 is Kubernetes' adaptive default (50% less 1% per 125 nodes, at least 5%, at least 100 nodes)")
	fs.Int("parallelism", scheduler.DefaultParallelism, "goroutines filtering and scoring nodes for one pod")
	fs.Int("max-concurrent-binds", scheduler.DefaultBindConcurrency, "bindings in flight at once; scheduling waits when all are busy")
	fs.Float32("kube-api-qps", DefaultKubeAPIQPS, "client-side rate limit of API requests per second (bindings, status writes, preemption); the default is high enough never to pace a burst of pods on one machine (kube-scheduler's 50 binds 50 pods a second), since the apiserver's priority and fairness protects it; lower it to share a small apiserver")
	fs.Int("kube-api-burst", DefaultKubeAPIBurst, "client-side burst above --kube-api-qps")
	fs.Float32("event-qps", DefaultEventQPS, "client-side rate limit of event writes per second, on a client of their own; 0 means --kube-api-qps. Events beyond what the limit lets through queue (up to 1,000) and are then dropped, as client-go's recorder does")
	fs.Int("event-burst", DefaultEventBurst, "client-side burst above --event-qps; 0 means --kube-api-burst")
	fs.Duration("pod-initial-backoff", queue.DefaultInitialBackoff, "back-off after a pod's first failed attempt; it doubles per attempt")
	fs.Duration("pod-max-backoff", queue.DefaultMaxBackoff, "longest back-off between attempts")
	fs.Int("volume-binding-timeout-seconds", volumebinding.DefaultBindTimeoutSeconds, "how long a pod waits, before it is bound, for the PersistentVolumeClaims the scheduler pre-bound or asked to be provisioned on its node to be bound; the pod is then scheduled again (the VolumeBinding plugin's bindTimeoutSeconds)")
}

// DefaultConfig is the configuration AddFlags' defaults describe.
func DefaultConfig() Config {
	return Config{
		SchedulerName:            scheduler.DefaultSchedulerName,
		LeaderElectLeaseDuration: DefaultLeaseDuration, LeaderElectRenewDeadline: DefaultRenewDeadline,
		LeaderElectRetryPeriod: DefaultRetryPeriod, LeaderElectResourceName: DefaultLeaderElectResourceName,
		LeaderElectResourceNamespace: DefaultLeaderElectResourceSpace,
		StatusAddress:                DefaultStatusAddress,
		Parallelism:                  scheduler.DefaultParallelism, MaxConcurrentBinds: scheduler.DefaultBindConcurrency,
		KubeAPIQPS: DefaultKubeAPIQPS, KubeAPIBurst: DefaultKubeAPIBurst, EventQPS: DefaultEventQPS, EventBurst: DefaultEventBurst,
		PodInitialBackoff: queue.DefaultInitialBackoff, PodMaxBackoff: queue.DefaultMaxBackoff,
		VolumeBindingTimeoutSeconds: volumebinding.DefaultBindTimeoutSeconds,
	}
}

// Validate checks the configuration, naming each bad setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Kubeconfig == "" && c.RESTConfig == nil {
		errs = append(errs, errors.New("--kubeconfig: required"))
	}
	if c.SchedulerName == "" {
		errs = append(errs, errors.New("--scheduler-name: must not be empty"))
	}
	if c.PercentageOfNodesToScore < 0 || c.PercentageOfNodesToScore > 100 {
		errs = append(errs, fmt.Errorf("--percentage-of-nodes-to-score %d: must be 0-100", c.PercentageOfNodesToScore))
	}
	if c.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("--parallelism %d: must be at least 1", c.Parallelism))
	}
	if c.MaxConcurrentBinds < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-binds %d: must be at least 1", c.MaxConcurrentBinds))
	}
	if c.KubeAPIQPS <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v: must be positive", c.KubeAPIQPS))
	}
	if c.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-burst %d: must be at least 1", c.KubeAPIBurst))
	}
	if c.EventQPS < 0 || c.EventBurst < 0 {
		errs = append(errs, fmt.Errorf("--event-qps %v, --event-burst %d: must not be negative", c.EventQPS, c.EventBurst))
	}
	if c.PodInitialBackoff <= 0 || c.PodMaxBackoff < c.PodInitialBackoff {
		errs = append(errs, fmt.Errorf("--pod-initial-backoff %v, --pod-max-backoff %v: want 0 < initial <= max", c.PodInitialBackoff, c.PodMaxBackoff))
	}
	if c.VolumeBindingTimeoutSeconds < 1 {
		errs = append(errs, fmt.Errorf("--volume-binding-timeout-seconds %d: must be at least 1", c.VolumeBindingTimeoutSeconds))
	}
	if c.LeaderElect {
		if c.LeaderElectLeaseDuration <= c.LeaderElectRenewDeadline {
			errs = append(errs, fmt.Errorf("--leader-elect-lease-duration %v: must exceed --leader-elect-renew-deadline %v", c.LeaderElectLeaseDuration, c.LeaderElectRenewDeadline))
		}
		if c.LeaderElectRenewDeadline <= time.Duration(1.2*float64(c.LeaderElectRetryPeriod)) {
			errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline %v: must exceed 1.2 × --leader-elect-retry-period %v", c.LeaderElectRenewDeadline, c.LeaderElectRetryPeriod))
		}
		if c.LeaderElectResourceName == "" || c.LeaderElectResourceNamespace == "" {
			errs = append(errs, errors.New("--leader-elect-resource-name and --leader-elect-resource-namespace: required with --leader-elect"))
		}
	}
	return errors.Join(errs...)
}
