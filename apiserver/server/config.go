package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

// Config is everything an apiserver needs. Flags, a YAML file and
// CORACLE_* variables fill it (see AddFlags); tests build it directly.
type Config struct {
	DataDir          string `mapstructure:"data-dir"`
	BindAddress      string `mapstructure:"bind-address"`
	SecurePort       int    `mapstructure:"secure-port"`
	AdvertiseAddress string `mapstructure:"advertise-address"`
	TokenAuthFile    string `mapstructure:"token-auth-file"`
	// AnonymousAuth lets requests without credentials in as
	// system:anonymous, for the authorizer to judge.
	AnonymousAuth bool `mapstructure:"anonymous-auth"`
	// AuthorizationModes are the authorizers in order, as
	// kube-apiserver's --authorization-mode: Node, RBAC, AlwaysAllow.
	AuthorizationModes []string `mapstructure:"authorization-mode"`
	// APIAudiences are the audiences a token must be for to log in
	// (--api-audiences); empty, the service account issuer.
	APIAudiences []string `mapstructure:"api-audiences"`

	ServiceAccountConfig `mapstructure:",squash"`

	AuditConfig `mapstructure:",squash"`

	// EncryptionProviderConfig is an EncryptionConfiguration file saying
	// which resources are encrypted in etcd and with which keys. Empty,
	// with the embedded etcd: DATA_DIR/encryption-config.yaml, created on
	// first start with a random aescbc key for Secrets.
	EncryptionProviderConfig string `mapstructure:"encryption-provider-config"`

	// DisableAdmissionPlugins turns admission plugins off by name, as
	// kube-apiserver's --disable-admission-plugins (integration tests
	// without a controller manager turn off ServiceAccount, as upstream's
	// do).
	DisableAdmissionPlugins []string `mapstructure:"disable-admission-plugins"`
	AdminKubeconfig         string   `mapstructure:"admin-kubeconfig"`
	// KubeletCertificateAuthority is a PEM bundle kubelets' serving
	// certificates are verified against; empty, they are not verified.
	KubeletCertificateAuthority string `mapstructure:"kubelet-certificate-authority"`
	// ProxyLoopback lets pods/proxy and nodes/proxy reach loopback and
	// link-local addresses, which Kubernetes refuses: for tests whose
	// pods and kubelets listen on 127.0.0.1. Not a flag.
	ProxyLoopback bool `mapstructure:"-"`
	// ProxyTransport, when set, carries pods/proxy and services/proxy
	// requests in place of the default (kube-apiserver's ProxyTransport):
	// tests route pod IPs to their own servers with it. Not a flag.
	ProxyTransport http.RoundTripper `mapstructure:"-"`

	EtcdConfig `mapstructure:",squash"`

	FlowControlConfig `mapstructure:",squash"`

	ServiceClusterIPRange string `mapstructure:"service-cluster-ip-range"`
	ServiceNodePortRange  string `mapstructure:"service-node-port-range"`

	WatchCacheSize        int           `mapstructure:"watch-cache-size"`
	WatchBookmarkInterval time.Duration `mapstructure:"watch-bookmark-interval"`
	MinRequestTimeout     time.Duration `mapstructure:"min-request-timeout"`
	ShutdownTimeout       time.Duration `mapstructure:"shutdown-timeout"`

	// Log is the logger; nil means no logs. Not a flag.
	Log *zap.Logger `mapstructure:"-"`
}

// AuditConfig is kube-apiserver's audit log: a policy file and a JSON
// lines log, rotated by size, age and count.
type AuditConfig struct {
	AuditPolicyFile    string `mapstructure:"audit-policy-file"`
	AuditLogPath       string `mapstructure:"audit-log-path"`
	AuditLogMaxAge     int    `mapstructure:"audit-log-maxage"`
	AuditLogMaxBackups int    `mapstructure:"audit-log-maxbackup"`
	AuditLogMaxSize    int    `mapstructure:"audit-log-maxsize"`
	AuditLogFormat     string `mapstructure:"audit-log-format"`
}

// ServiceAccountConfig is how ServiceAccount tokens are signed and
// checked, as kube-apiserver's --service-account-* flags.
type ServiceAccountConfig struct {
	// ServiceAccountIssuers: the first is the "iss" of new tokens; all
	// are accepted.
	ServiceAccountIssuers []string `mapstructure:"service-account-issuer"`
	// ServiceAccountKeyFiles hold more verification keys (PEM).
	ServiceAccountKeyFiles []string `mapstructure:"service-account-key-file"`
	// ServiceAccountSigningKeyFile is the signing key; empty,
	// DATA_DIR/pki/sa.key, created on first start.
	ServiceAccountSigningKeyFile string `mapstructure:"service-account-signing-key-file"`
	// ServiceAccountMaxTokenExpiration caps requested lifetimes; 0, none.
	ServiceAccountMaxTokenExpiration time.Duration `mapstructure:"service-account-max-token-expiration"`
	// ServiceAccountExtendTokenExpiration gives the kubelet's projected
	// tokens a year, warning after the hour they asked for.
	ServiceAccountExtendTokenExpiration bool `mapstructure:"service-account-extend-token-expiration"`
	// ServiceAccountJWKSURI overrides the discovery document's jwks_uri.
	ServiceAccountJWKSURI string `mapstructure:"service-account-jwks-uri"`
}

// Admission plugins, by kube-apiserver's names; all are on unless
// disabled.
const (
	AdmissionServiceAccount               = "ServiceAccount"
	AdmissionNodeRestriction              = "NodeRestriction"
	AdmissionPriority                     = "Priority"
	AdmissionDefaultTolerationSeconds     = "DefaultTolerationSeconds"
	AdmissionLimitRanger                  = "LimitRanger"
	AdmissionDefaultStorageClass          = "DefaultStorageClass"
	AdmissionStorageObjectInUseProtection = "StorageObjectInUseProtection"
	AdmissionPersistentVolumeClaimResize  = "PersistentVolumeClaimResize"
	AdmissionRuntimeClass                 = "RuntimeClass"
	AdmissionDefaultIngressClass          = "DefaultIngressClass"
	AdmissionResourceQuota                = "ResourceQuota"
)

// AdmissionPlugins are the plugins the apiserver has.
var AdmissionPlugins = []string{AdmissionServiceAccount, AdmissionNodeRestriction, AdmissionPriority, AdmissionDefaultTolerationSeconds, AdmissionLimitRanger,
	AdmissionDefaultStorageClass, AdmissionStorageObjectInUseProtection, AdmissionPersistentVolumeClaimResize, AdmissionRuntimeClass, AdmissionDefaultIngressClass,
	AdmissionMutatingAdmissionPolicy, AdmissionMutatingWebhook, AdmissionValidatingAdmissionPolicy, AdmissionValidatingWebhook, AdmissionResourceQuota}

// DefaultServiceAccountIssuer is kubeadm's issuer.
const DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// EtcdConfig says where the objects are kept, as kube-apiserver's etcd
// options: an external etcd cluster, or else an embedded etcd member in
// the data directory; and how often old revisions are compacted.
type EtcdConfig struct {
	EtcdServers           []string      `mapstructure:"etcd-servers"`
	EtcdCAFile            string        `mapstructure:"etcd-cafile"`
	EtcdCertFile          string        `mapstructure:"etcd-certfile"`
	EtcdKeyFile           string        `mapstructure:"etcd-keyfile"`
	EmbeddedEtcdClientURL string        `mapstructure:"embedded-etcd-client-url"`
	EmbeddedEtcdPeerURL   string        `mapstructure:"embedded-etcd-peer-url"`
	CompactionInterval    time.Duration `mapstructure:"etcd-compaction-interval"`
}

// Defaults, as Kubernetes' where it has them.
const (
	DefaultSecurePort            = 6443
	DefaultServiceClusterIPRange = "10.96.0.0/12"
	DefaultServiceNodePortRange  = "30000-32767"
	DefaultEtcdClientURL         = "https://127.0.0.1:12379"
	DefaultEtcdPeerURL           = "https://127.0.0.1:12380"
)

// AddFlags declares the apiserver's flags on fs with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("data-dir", "/var/lib/coracle/apiserver", "directory for the embedded etcd, the cluster CA and certificates, and admin.conf")
	fs.String("bind-address", "0.0.0.0", "address to serve HTTPS on")
	fs.Int("secure-port", DefaultSecurePort, "port to serve HTTPS on (0 picks a free port)")
	fs.String("advertise-address", "", "address the `kubernetes` Service points at (default: the bind address, or the host's first non-loopback IPv4)")
	fs.StringSlice("etcd-servers", nil, "external etcd client URLs; none starts an embedded etcd in --data-dir")
	fs.String("etcd-cafile", "", "CA bundle to verify external etcd servers")
	fs.String("etcd-certfile", "", "client certificate for external etcd servers")
	fs.String("etcd-keyfile", "", "client key for external etcd servers")
	fs.String("embedded-etcd-client-url", DefaultEtcdClientURL, "client URL of the embedded etcd (loopback)")
	fs.String("embedded-etcd-peer-url", DefaultEtcdPeerURL, "peer URL of the embedded etcd (loopback)")
	fs.String("service-cluster-ip-range", DefaultServiceClusterIPRange, "CIDR Service ClusterIPs are allocated from")
	fs.String("service-node-port-range", DefaultServiceNodePortRange, "port range NodePorts are allocated from")
	fs.String("token-auth-file", "", "CSV of static bearer tokens: token,user,uid[,\"group1,group2\"]")
	fs.Bool("anonymous-auth", true, "let requests that carry no credential in as system:anonymous (group system:unauthenticated); the authorizer allows them only the public endpoints and kube-public/cluster-info")
	fs.StringSlice("authorization-mode", []string{ModeNode, ModeRBAC}, "ordered list of authorizers: Node, RBAC, AlwaysAllow (system:masters may always do everything)")
	fs.StringSlice("api-audiences", nil, "audiences a bearer token must name to log in (default: the service account issuer)")
	fs.StringSlice("service-account-issuer", []string{DefaultServiceAccountIssuer}, "issuer of ServiceAccount tokens (the first signs new tokens; all are accepted)")
	fs.StringSlice("service-account-key-file", nil, "PEM files of further keys ServiceAccount tokens are verified with")
	fs.String("service-account-signing-key-file", "", "private key ServiceAccount tokens are signed with (default DATA_DIR/pki/sa.key, created on first start)")
	fs.Duration("service-account-max-token-expiration", 0, "longest lifetime a TokenRequest may get (0: no cap)")
	fs.Bool("service-account-extend-token-expiration", true, "give the kubelet's projected tokens a year, warning after the hour they asked for, as Kubernetes")
	fs.String("service-account-jwks-uri", "", "jwks_uri of the issuer's discovery document (default: https://ADVERTISE:PORT/openid/v1/jwks)")
	fs.String("audit-policy-file", "", "path to the file that defines the audit policy configuration (audit.k8s.io/v1 Policy)")
	fs.String("audit-log-path", "", "if set, all requests coming to the apiserver will be logged to this file; '-' means standard out")
	fs.Int("audit-log-maxage", 0, "the maximum number of days to retain old audit log files based on the timestamp encoded in their filename")
	fs.Int("audit-log-maxbackup", 0, "the maximum number of old audit log files to retain; 0 means no limit")
	fs.Int("audit-log-maxsize", 0, "the maximum size in megabytes of the audit log file before it gets rotated")
	fs.String("audit-log-format", "json", "format of saved audits: json")
	fs.String("encryption-provider-config", "", "EncryptionConfiguration file of the resources encrypted in etcd (default with the embedded etcd: DATA_DIR/encryption-config.yaml, created with a random aescbc key for secrets)")
	fs.StringSlice("disable-admission-plugins", nil, "admission plugins to turn off: "+strings.Join(AdmissionPlugins, ", "))
	fs.String("admin-kubeconfig", "", "where to write the admin kubeconfig (default DATA_DIR/admin.conf)")
	fs.String("kubelet-certificate-authority", "", "CA bundle to verify kubelets' serving certificates against when proxying logs and exec (default: not verified); may be DATA_DIR/pki/ca.crt, which exists once the apiserver made its CA")
	fs.Int("watch-cache-size", 4096, "events kept per resource for watches to resume from")
	fs.Duration("watch-bookmark-interval", time.Minute, "how often watchers that allow bookmarks get one")
	fs.Duration("etcd-compaction-interval", 5*time.Minute, "how often old etcd revisions are compacted (0 disables)")
	fs.Duration("min-request-timeout", 30*time.Minute, "watches without timeoutSeconds last between this and twice this")
	fs.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for requests in flight")
	addFlowControlFlags(fs)
}

// DefaultConfig is the configuration AddFlags' defaults describe.
func DefaultConfig() Config {
	return Config{
		DataDir: "/var/lib/coracle/apiserver", BindAddress: "0.0.0.0", SecurePort: DefaultSecurePort, AnonymousAuth: true,
		AuthorizationModes: []string{ModeNode, ModeRBAC},
		AuditConfig:        AuditConfig{AuditLogFormat: "json"},
		ServiceAccountConfig: ServiceAccountConfig{
			ServiceAccountIssuers: []string{DefaultServiceAccountIssuer}, ServiceAccountExtendTokenExpiration: true,
		},
		EtcdConfig: EtcdConfig{
			EmbeddedEtcdClientURL: DefaultEtcdClientURL, EmbeddedEtcdPeerURL: DefaultEtcdPeerURL,
			CompactionInterval: 5 * time.Minute,
		},
		ServiceClusterIPRange: DefaultServiceClusterIPRange, ServiceNodePortRange: DefaultServiceNodePortRange,
		WatchCacheSize: 4096, WatchBookmarkInterval: time.Minute,
		MinRequestTimeout: 30 * time.Minute, ShutdownTimeout: 30 * time.Second,
		FlowControlConfig: defaultFlowControlConfig(),
	}
}

// Validate checks the configuration, naming the bad setting.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: required"))
	}
	if net.ParseIP(c.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q: not an IP address", c.BindAddress))
	}
	if c.SecurePort < 0 || c.SecurePort > 65535 {
		errs = append(errs, fmt.Errorf("--secure-port %d: must be 0-65535", c.SecurePort))
	}
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		errs = append(errs, fmt.Errorf("--advertise-address %q: not an IP address", c.AdvertiseAddress))
	}
	if _, _, err := net.ParseCIDR(c.ServiceClusterIPRange); err != nil {
		errs = append(errs, fmt.Errorf("--service-cluster-ip-range %q: %v", c.ServiceClusterIPRange, err))
	}
	if _, _, err := ParsePortRange(c.ServiceNodePortRange); err != nil {
		errs = append(errs, fmt.Errorf("--service-node-port-range %q: %v", c.ServiceNodePortRange, err))
	}
	for _, s := range c.EtcdServers {
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			errs = append(errs, fmt.Errorf("--etcd-servers %q: want an http:// or https:// URL", s))
		}
	}
	for _, m := range c.AuthorizationModes {
		if m != ModeNode && m != ModeRBAC && m != ModeAlwaysAllow {
			errs = append(errs, fmt.Errorf("--authorization-mode %q: want Node, RBAC or AlwaysAllow", m))
		}
	}
	if len(c.ServiceAccountIssuers) == 0 || c.ServiceAccountIssuers[0] == "" {
		errs = append(errs, errors.New("--service-account-issuer: required"))
	}
	if c.ServiceAccountMaxTokenExpiration < 0 {
		errs = append(errs, fmt.Errorf("--service-account-max-token-expiration %s: must not be negative", c.ServiceAccountMaxTokenExpiration))
	}
	for _, p := range c.DisableAdmissionPlugins {
		if !slices.Contains(AdmissionPlugins, p) {
			errs = append(errs, fmt.Errorf("--disable-admission-plugins %q: unknown plugin (known: %s)", p, strings.Join(AdmissionPlugins, ", ")))
		}
	}
	if len(c.AuthorizationModes) == 0 {
		errs = append(errs, errors.New("--authorization-mode: at least one mode is required"))
	}
	if err := c.FlowControlConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.WatchCacheSize < 1 {
		errs = append(errs, fmt.Errorf("--watch-cache-size %d: must be at least 1", c.WatchCacheSize))
	}
	return errors.Join(errs...)
}

// ParsePortRange parses "A-B".
func ParsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, errors.New("want A-B")
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, errors.New("want A-B with 1 <= A <= B <= 65535")
	}
	return lo, hi, nil
}
