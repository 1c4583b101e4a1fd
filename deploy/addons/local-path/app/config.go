package app

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"coracle.dev/addons/local-path/internal/volume"
)

// Config is everything the provisioner needs. Flags, a YAML file (keys
// are flag names) and CORACLE_* variables fill it (see AddFlags); tests
// build it directly.
type Config struct {
	Kubeconfig      string        `mapstructure:"kubeconfig"`
	StatusAddress   string        `mapstructure:"status-address"`
	ProvisionerName string        `mapstructure:"provisioner-name"`
	Namespace       string        `mapstructure:"namespace"`
	ConfigMapName   string        `mapstructure:"configmap-name"`
	HelperImage     string        `mapstructure:"helper-image"`
	HelperCommand   string        `mapstructure:"helper-command"`
	ServiceAccount  string        `mapstructure:"service-account-name"`
	Workers         int           `mapstructure:"workers"`
	RetryBase       time.Duration `mapstructure:"retry-base-delay"`
	RetryMax        time.Duration `mapstructure:"retry-max-delay"`
	KubeAPIQPS      float32       `mapstructure:"kube-api-qps"`
	KubeAPIBurst    int           `mapstructure:"kube-api-burst"`

	// Log is the logger; nil means no logs. Not a flag.
	Log *zap.Logger `mapstructure:"-"`
	// RESTConfig, when set, is used instead of Kubeconfig and the
	// in-cluster configuration. Not a flag.
	RESTConfig *rest.Config `mapstructure:"-"`
}

// Defaults: k3s's names for the provisioner, its ConfigMap and its
// ServiceAccount; the image's binary is /local-path.
const (
	DefaultStatusAddress  = ":10260"
	DefaultNamespace      = "kube-system"
	DefaultConfigMapName  = "local-path-config"
	DefaultHelperCommand  = "/local-path"
	DefaultServiceAccount = "local-path-provisioner-service-account"
	DefaultWorkers        = 4
	DefaultRetryBase      = 2 * time.Second
	DefaultRetryMax       = 5 * time.Minute
	DefaultKubeAPIQPS     = 20
	DefaultKubeAPIBurst   = 40
)

// AddFlags declares the provisioner's flags on fs with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("kubeconfig", d.Kubeconfig, "kubeconfig of the apiserver; empty: the in-cluster configuration (the pod's ServiceAccount)")
	fs.String("status-address", d.StatusAddress, "address of /healthz, /readyz and /metrics (plain HTTP; port 0 picks one)")
	fs.String("provisioner-name", d.ProvisionerName, "the provisioner of the StorageClasses served")
	fs.String("namespace", d.Namespace, "namespace of the ConfigMap and of the helper pods")
	fs.String("configmap-name", d.ConfigMapName, "ConfigMap whose config.json lists the nodes' storage roots (k3s's format)")
	fs.String("helper-image", d.HelperImage, "image of the helper pods: this provisioner's own (set CORACLE_HELPER_IMAGE to the pod's image)")
	fs.String("helper-command", d.HelperCommand, "the binary in --helper-image that runs `helper create|delete`")
	fs.String("service-account-name", d.ServiceAccount, "ServiceAccount of the helper pods (no token is mounted)")
	fs.Int("workers", d.Workers, "claims and volumes worked on at once")
	fs.Duration("retry-base-delay", d.RetryBase, "first delay before a failed provisioning or deletion is retried; it doubles each time")
	fs.Duration("retry-max-delay", d.RetryMax, "longest delay between retries")
	fs.Float32("kube-api-qps", d.KubeAPIQPS, "client-side rate limit of API requests per second")
	fs.Int("kube-api-burst", d.KubeAPIBurst, "client-side burst above --kube-api-qps")
}

// DefaultConfig is the configuration AddFlags' defaults describe.
func DefaultConfig() Config {
	return Config{
		StatusAddress: DefaultStatusAddress, ProvisionerName: volume.ProvisionerName,
		Namespace: DefaultNamespace, ConfigMapName: DefaultConfigMapName,
		HelperCommand: DefaultHelperCommand, ServiceAccount: DefaultServiceAccount,
		Workers: DefaultWorkers, RetryBase: DefaultRetryBase, RetryMax: DefaultRetryMax,
		KubeAPIQPS: DefaultKubeAPIQPS, KubeAPIBurst: DefaultKubeAPIBurst,
	}
}

// Validate checks the configuration, naming each bad setting.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.StatusAddress); err != nil {
		errs = append(errs, fmt.Errorf("--status-address %q: %v", c.StatusAddress, err))
	}
	if c.ProvisionerName == "" {
		errs = append(errs, errors.New("--provisioner-name: required"))
	}
	for _, n := range []struct{ flag, value string }{
		{"--namespace", c.Namespace}, {"--configmap-name", c.ConfigMapName}, {"--service-account-name", c.ServiceAccount},
	} {
		if msgs := validation.IsDNS1123Subdomain(n.value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: %s", n.flag, n.value, strings.Join(msgs, "; ")))
		}
	}
	if c.HelperImage == "" {
		errs = append(errs, errors.New("--helper-image: required (the provisioner's own image)"))
	}
	if !strings.HasPrefix(c.HelperCommand, "/") {
		errs = append(errs, fmt.Errorf("--helper-command %q: want an absolute path", c.HelperCommand))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: must be at least 1", c.Workers))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("--retry-base-delay %v, --retry-max-delay %v: want 0 < base <= max", c.RetryBase, c.RetryMax))
	}
	if c.KubeAPIQPS <= 0 || c.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v, --kube-api-burst %d: must be positive", c.KubeAPIQPS, c.KubeAPIBurst))
	}
	return errors.Join(errs...)
}
