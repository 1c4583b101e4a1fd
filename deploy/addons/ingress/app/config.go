package app

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"
)

// Config is everything the controller needs. Flags, a YAML file (keys
// are flag names) and CORACLE_* variables fill it (see AddFlags); tests
// build it directly.
type Config struct {
	Kubeconfig     string        `mapstructure:"kubeconfig"`
	HTTPAddress    string        `mapstructure:"http-address"`
	HTTPSAddress   string        `mapstructure:"https-address"`
	StatusAddress  string        `mapstructure:"status-address"`
	PublishService string        `mapstructure:"publish-service"`
	IngressClass   string        `mapstructure:"ingress-class"`
	ControllerName string        `mapstructure:"controller-name"`
	DataDir        string        `mapstructure:"data-dir"`
	SyncDelay      time.Duration `mapstructure:"sync-delay"`
	DrainTimeout   time.Duration `mapstructure:"drain-timeout"`
	AccessLog      bool          `mapstructure:"access-log"`
	KubeAPIQPS     float32       `mapstructure:"kube-api-qps"`
	KubeAPIBurst   int           `mapstructure:"kube-api-burst"`

	// Log is the logger; nil means no logs. Not a flag.
	Log *zap.Logger `mapstructure:"-"`
	// RESTConfig, when set, is used instead of Kubeconfig and the
	// in-cluster configuration. Not a flag.
	RESTConfig *rest.Config `mapstructure:"-"`
}

// Defaults. The status port is ingress-nginx's.
const (
	DefaultHTTPAddress    = ":80"
	DefaultHTTPSAddress   = ":443"
	DefaultStatusAddress  = ":10254"
	DefaultIngressClass   = "coracle"
	DefaultControllerName = "coracle.dev/ingress-controller"
	DefaultDataDir        = "/var/lib/coracle-ingress"
	DefaultSyncDelay      = 100 * time.Millisecond
	DefaultDrainTimeout   = 60 * time.Second
	DefaultKubeAPIQPS     = 20
	DefaultKubeAPIBurst   = 40
)

// AddFlags declares the controller's flags on fs with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("kubeconfig", d.Kubeconfig, "kubeconfig of the apiserver; empty: the in-cluster configuration (the pod's ServiceAccount)")
	fs.String("http-address", d.HTTPAddress, "address of the plain HTTP listener")
	fs.String("https-address", d.HTTPSAddress, "address of the HTTPS listener")
	fs.String("status-address", d.StatusAddress, "address of /healthz, /readyz and /metrics (plain HTTP; port 0 picks one)")
	fs.String("publish-service", d.PublishService, "NAMESPACE/NAME of the controller's Service: served Ingresses show its addresses in status.loadBalancer; empty: their status is left alone")
	fs.String("ingress-class", d.IngressClass, "the class the legacy kubernetes.io/ingress.class annotation must name")
	fs.String("controller-name", d.ControllerName, "spec.controller of the IngressClasses this controller serves")
	fs.String("data-dir", d.DataDir, "directory of the proxy's storage (locks; certificates come from Secrets and are kept in memory)")
	fs.Duration("sync-delay", d.SyncDelay, "how long a change waits for more changes before the proxy is reconfigured once for all")
	fs.Duration("drain-timeout", d.DrainTimeout, "how long connections of a replaced configuration, or of a stopping controller, may finish (WebSockets too)")
	fs.Bool("access-log", d.AccessLog, "log every request")
	fs.Float32("kube-api-qps", d.KubeAPIQPS, "client-side rate limit of API requests per second")
	fs.Int("kube-api-burst", d.KubeAPIBurst, "client-side burst above --kube-api-qps")
}

// DefaultConfig is the configuration AddFlags' defaults describe.
func DefaultConfig() Config {
	return Config{
		HTTPAddress: DefaultHTTPAddress, HTTPSAddress: DefaultHTTPSAddress, StatusAddress: DefaultStatusAddress,
		IngressClass: DefaultIngressClass, ControllerName: DefaultControllerName, DataDir: DefaultDataDir,
		SyncDelay: DefaultSyncDelay, DrainTimeout: DefaultDrainTimeout,
		KubeAPIQPS: DefaultKubeAPIQPS, KubeAPIBurst: DefaultKubeAPIBurst,
	}
}

// Validate checks the configuration, naming each bad setting.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{
		{"--http-address", c.HTTPAddress}, {"--https-address", c.HTTPSAddress}, {"--status-address", c.StatusAddress},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", a.flag, a.addr, err))
		}
	}
	if c.HTTPAddress == c.HTTPSAddress {
		errs = append(errs, fmt.Errorf("--http-address and --https-address: both %q", c.HTTPAddress))
	}
	if c.PublishService != "" {
		if ns, name, ok := strings.Cut(c.PublishService, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			errs = append(errs, fmt.Errorf("--publish-service %q: want NAMESPACE/NAME", c.PublishService))
		}
	}
	if c.IngressClass == "" {
		errs = append(errs, errors.New("--ingress-class: required"))
	}
	if c.ControllerName == "" {
		errs = append(errs, errors.New("--controller-name: required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: required"))
	}
	if c.SyncDelay < 0 {
		errs = append(errs, fmt.Errorf("--sync-delay %v: must not be negative", c.SyncDelay))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("--drain-timeout %v: must not be negative", c.DrainTimeout))
	}
	if c.KubeAPIQPS <= 0 || c.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v, --kube-api-burst %d: must be positive", c.KubeAPIQPS, c.KubeAPIBurst))
	}
	return errors.Join(errs...)
}
