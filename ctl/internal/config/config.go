// Package config resolves which cluster ctl talks to and builds the clients
// every command uses. The kubeconfig comes from --kubeconfig, then
// $KUBECONFIG, then /etc/coracle/admin.conf (what `make up` and the
// apiserver write), then ~/.kube/config; --context and -n/--namespace
// override what the kubeconfig selects, as they do for kubectl.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminConf is the kubeconfig a Coracle control-plane host keeps for its
// administrator; ctl reads it when neither --kubeconfig nor $KUBECONFIG
// names one.
const AdminConf = "/etc/coracle/admin.conf"

// Flags are the global connection flags.
type Flags struct {
	Kubeconfig string
	Context    string
	Namespace  string
	Server     string
	Insecure   bool
	Timeout    string

	// Impersonate, ImpersonateGroups and ImpersonateUID are --as,
	// --as-group and --as-uid: every request carries the Impersonate-*
	// headers, so the server authorizes it as that user.
	Impersonate       string
	ImpersonateGroups []string
	ImpersonateUID    string

	// Home and Env are where the defaults come from; tests set them.
	Home string
	Env  func(string) string
	// AdminConfPath defaults to AdminConf.
	AdminConfPath string
}

// AddTo registers the flags on fs.
func (f *Flags) AddTo(fs *pflag.FlagSet) {
	fs.StringVar(&f.Kubeconfig, "kubeconfig", "", "Path to the kubeconfig file to use for CLI requests.")
	fs.StringVar(&f.Context, "context", "", "The name of the kubeconfig context to use")
	fs.StringVarP(&f.Namespace, "namespace", "n", "", "If present, the namespace scope for this CLI request")
	fs.StringVarP(&f.Server, "server", "s", "", "The address and port of the Kubernetes API server")
	fs.BoolVar(&f.Insecure, "insecure-skip-tls-verify", false, "If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure")
	fs.StringVar(&f.Timeout, "request-timeout", "0", "The length of time to wait before giving up on a single server request. Non-zero values should contain a corresponding time unit (e.g. 1s, 2m, 3h). A value of zero means don't timeout requests.")
	fs.StringVar(&f.Impersonate, "as", "", "Username to impersonate for the operation. User could be a regular user or a service account in a namespace.")
	fs.StringArrayVar(&f.ImpersonateGroups, "as-group", nil, "Group to impersonate for the operation, this flag can be repeated to specify multiple groups.")
	fs.StringVar(&f.ImpersonateUID, "as-uid", "", "UID to impersonate for the operation.")
}

// LoadingRules returns the kubeconfig search order: the flag, then
// $KUBECONFIG (a path list, merged as kubectl merges it), then the Coracle
// admin.conf, then ~/.kube/config.
func (f *Flags) LoadingRules() *clientcmd.ClientConfigLoadingRules {
	rules := &clientcmd.ClientConfigLoadingRules{}
	if f.Kubeconfig != "" {
		rules.ExplicitPath = f.Kubeconfig
		return rules
	}
	getenv := f.Env
	if getenv == nil {
		getenv = os.Getenv
	}
	if env := getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		rules.Precedence = filepath.SplitList(env)
		return rules
	}
	admin := f.AdminConfPath
	if admin == "" {
		admin = AdminConf
	}
	home := f.Home
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	candidates := []string{admin}
	if home != "" {
		candidates = append(candidates, filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			rules.Precedence = []string{p}
			return rules
		}
	}
	return rules
}

// ClientConfig is the kubeconfig with the flags' overrides applied.
func (f *Flags) ClientConfig() clientcmd.ClientConfig {
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.Context, Timeout: f.Timeout}
	overrides.Context.Namespace = f.Namespace
	if f.Server != "" {
		overrides.ClusterInfo.Server = f.Server
	}
	if f.Insecure {
		overrides.ClusterInfo.InsecureSkipTLSVerify = true
	}
	// As kubectl: a flag given replaces what the kubeconfig's user says
	// about impersonation, and client-go turns them into Impersonate-*
	// headers.
	overrides.AuthInfo.Impersonate = f.Impersonate
	overrides.AuthInfo.ImpersonateGroups = f.ImpersonateGroups
	overrides.AuthInfo.ImpersonateUID = f.ImpersonateUID
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(f.LoadingRules(), overrides)
}

// Clients are the API clients of one ctl invocation, made on first use so
// that commands which never talk to the server (completion, help) need no
// kubeconfig.
type Clients struct {
	flags *Flags

	once      sync.Once
	err       error
	rest      *rest.Config
	namespace string
	explicit  bool
	disco     discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
	dynamic   dynamic.Interface
	typed     kubernetes.Interface
}

// NewClients returns lazily built clients for the flags.
func NewClients(f *Flags) *Clients { return &Clients{flags: f} }

func (c *Clients) init() error {
	c.once.Do(func() {
		cc := c.flags.ClientConfig()
		cfg, err := cc.ClientConfig()
		if err != nil {
			c.err = err
			return
		}
		cfg.QPS, cfg.Burst = 50, 100
		cfg.UserAgent = "ctl/" + rest.DefaultKubernetesUserAgent()
		ns, explicit, err := cc.Namespace()
		if err != nil {
			c.err = err
			return
		}
		typed, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			c.err = fmt.Errorf("build client: %w", err)
			return
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			c.err = fmt.Errorf("build dynamic client: %w", err)
			return
		}
		disco := memory.NewMemCacheClient(typed.Discovery())
		deferred := restmapper.NewDeferredDiscoveryRESTMapper(disco)
		c.rest, c.namespace, c.explicit = cfg, ns, explicit
		c.disco, c.typed, c.dynamic = disco, typed, dyn
		c.mapper = restmapper.NewShortcutExpander(deferred, disco, func(string) {})
	})
	return c.err
}

// REST is the client-go configuration.
func (c *Clients) REST() (*rest.Config, error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	return rest.CopyConfig(c.rest), nil
}

// Namespace is the namespace of this request: -n, else the context's,
// else "default"; explicit says whether -n or the context chose it.
func (c *Clients) Namespace() (ns string, explicit bool, err error) {
	if err := c.init(); err != nil {
		return "", false, err
	}
	return c.namespace, c.explicit, nil
}

// Discovery is a discovery client caching in memory for this invocation.
func (c *Clients) Discovery() (discovery.CachedDiscoveryInterface, error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	return c.disco, nil
}

// Mapper maps kinds and resource names (plural, singular, short names) to
// REST mappings through discovery.
func (c *Clients) Mapper() (meta.RESTMapper, error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	return c.mapper, nil
}

// Dynamic is the dynamic client.
func (c *Clients) Dynamic() (dynamic.Interface, error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	return c.dynamic, nil
}

// Typed is the typed clientset.
func (c *Clients) Typed() (kubernetes.Interface, error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	return c.typed, nil
}

// RawConfig is the merged kubeconfig, for cluster-info and completion.
func (c *Clients) RawConfig() (clientcmdapi.Config, error) {
	return c.flags.ClientConfig().RawConfig()
}
