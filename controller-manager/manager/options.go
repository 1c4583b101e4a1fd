package manager

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"coracle.dev/controller-manager/internal/controller"
)

// Options are the controller manager's settings: its flags, its YAML
// config keys (the flag names) and its CORACLE_* variables.
type Options struct {
	Kubeconfig string `mapstructure:"kubeconfig"`

	LeaderElect              bool          `mapstructure:"leader-elect"`
	LeaderElectLeaseDuration time.Duration `mapstructure:"leader-elect-lease-duration"`
	LeaderElectRenewDeadline time.Duration `mapstructure:"leader-elect-renew-deadline"`
	LeaderElectRetryPeriod   time.Duration `mapstructure:"leader-elect-retry-period"`

	Controllers     []string `mapstructure:"controllers"`
	ConcurrentSyncs int      `mapstructure:"concurrent-syncs"`
	KubeAPIQPS      float32  `mapstructure:"kube-api-qps"`
	KubeAPIBurst    int      `mapstructure:"kube-api-burst"`
	// UseServiceAccountCredentials runs each controller as its own
	// ServiceAccount in kube-system, with only the rights the
	// apiserver's bootstrap policy gives it, instead of as the manager.
	UseServiceAccountCredentials bool `mapstructure:"use-service-account-credentials"`

	// Settings are the controllers' own knobs: their flags, defaults
	// and checks are in package controller.
	controller.Settings `mapstructure:",squash"`
	RootCAFile          string `mapstructure:"root-ca-file"`

	StatusAddress string `mapstructure:"status-address"`
}

// DefaultKubeAPIQPS and DefaultKubeAPIBurst are each controller's
// client-side limit: far above kube-controller-manager's 20 and 30,
// which let a ReplicaSet of 1,000 replicas create 20 pods a second. The
// apiserver protects itself with priority and fairness (the controller
// manager's requests are in its workload-high level), so the client's
// limit only has to stop a runaway loop, not pace the work.
const (
	DefaultKubeAPIQPS   = 1000
	DefaultKubeAPIBurst = 2000
)

// DefaultOptions are Kubernetes' defaults where Kubernetes has one.
func DefaultOptions() Options {
	return Options{
		LeaderElectLeaseDuration: 15 * time.Second,
		LeaderElectRenewDeadline: 10 * time.Second,
		LeaderElectRetryPeriod:   2 * time.Second,
		Controllers:              []string{"*"},
		ConcurrentSyncs:          5,
		KubeAPIQPS:               DefaultKubeAPIQPS,
		KubeAPIBurst:             DefaultKubeAPIBurst,
		Settings:                 controller.DefaultSettings(),
		StatusAddress:            "127.0.0.1:10257",
	}
}

// AddFlags declares the flags, with o's values as defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file of the apiserver to manage")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "run the controllers only while holding the kube-system/kube-controller-manager Lease")
	fs.DurationVar(&o.LeaderElectLeaseDuration, "leader-elect-lease-duration", o.LeaderElectLeaseDuration, "how long a leader's lease lasts unrenewed")
	fs.DurationVar(&o.LeaderElectRenewDeadline, "leader-elect-renew-deadline", o.LeaderElectRenewDeadline, "how long the leader retries renewing before it gives up")
	fs.DurationVar(&o.LeaderElectRetryPeriod, "leader-elect-retry-period", o.LeaderElectRetryPeriod, "how often candidates try to acquire or renew the lease")
	fs.StringSliceVar(&o.Controllers, "controllers", o.Controllers, "controllers to run: '*' for all, 'name' to add one, '-name' to leave one out; names: "+strings.Join(Names(), ", "))
	fs.IntVar(&o.ConcurrentSyncs, "concurrent-syncs", o.ConcurrentSyncs, "objects each controller reconciles at once")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "requests per second each controller may send to the apiserver; the default is high enough never to pace a burst on one machine (kube-controller-manager's 20 creates 20 pods a second), since the apiserver's priority and fairness protects it; lower it to share a small apiserver")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "burst of requests each controller may send above its QPS")
	fs.BoolVar(&o.UseServiceAccountCredentials, "use-service-account-credentials", o.UseServiceAccountCredentials, "if true, use individual service account credentials for each controller: kube-system/<controller's service account>, with tokens from the TokenRequest API")
	o.Settings.AddFlags(fs)
	fs.StringVar(&o.RootCAFile, "root-ca-file", o.RootCAFile, "cluster CA published as kube-root-ca.crt in every namespace; default: the kubeconfig's CA")
	fs.StringVar(&o.StatusAddress, "status-address", o.StatusAddress, "address of /healthz, /readyz and /metrics")
}

// Validate checks the options.
func (o Options) Validate() error {
	var errs []error
	if o.Kubeconfig == "" {
		errs = append(errs, errors.New("--kubeconfig is required"))
	}
	if _, err := o.EnabledControllers(); err != nil {
		errs = append(errs, err)
	}
	if err := o.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.ConcurrentSyncs < 1 {
		errs = append(errs, errors.New("--concurrent-syncs must be at least 1"))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, errors.New("--kube-api-qps must be positive and --kube-api-burst at least 1"))
	}
	if o.LeaderElect && (o.LeaderElectRenewDeadline >= o.LeaderElectLeaseDuration || o.LeaderElectRetryPeriod <= 0) {
		errs = append(errs, errors.New("leader election: renew deadline must be shorter than the lease duration, and the retry period positive"))
	}
	return errors.Join(errs...)
}

// EnabledControllers resolves --controllers to the names to run, in the
// order they start.
func (o Options) EnabledControllers() ([]string, error) {
	known := map[string]string{}
	for _, n := range Names() {
		known[n] = n
		known[strings.TrimSuffix(n, "-controller")] = n
	}
	all, on, off := false, map[string]bool{}, map[string]bool{}
	for _, c := range o.Controllers {
		c = strings.TrimSpace(c)
		switch {
		case c == "*":
			all = true
		case strings.HasPrefix(c, "-"):
			n, ok := known[c[1:]]
			if !ok {
				return nil, fmt.Errorf("--controllers: unknown controller %q", c[1:])
			}
			off[n] = true
		case c != "":
			n, ok := known[c]
			if !ok {
				return nil, fmt.Errorf("--controllers: unknown controller %q", c)
			}
			on[n] = true
		}
	}
	var out []string
	for _, n := range Names() {
		if (all || on[n]) && !off[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
