// Package discovery is the joining side of kubeadm's token discovery: how
// a new node comes to trust the apiserver it has only an address, a
// bootstrap token and a CA hash for.
//
// It reads the kube-public/cluster-info ConfigMap anonymously, without
// checking the server's certificate (it has nothing to check it with
// yet), and trusts what it read only when
//
//   - the ConfigMap's kubeconfig carries a JWS signature for the token's
//     id (the controller manager's bootstrap signer adds one per token
//     with the signing usage, so a token the cluster does not know has
//     none) that verifies with the token's secret, proving whoever
//     answered knows the token;
//   - that kubeconfig names exactly one cluster, and the public key of its
//     CA is one of the pinned hashes (unless no hash is pinned and the
//     caller accepted that);
//   - reading cluster-info again, now over TLS verified with that CA,
//     gives the same kubeconfig: the apiserver holds the CA's key.
//
// Each refusal is its own error, naming the cause in kubeadm's words.
package discovery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"

	"coracle.dev/ctl/internal/bootstraptoken"
	"coracle.dev/shared/pki"
)

// The refusals, tested with errors.Is; the errors returned add the
// details (the token id, the key's hash, the parse error).
var (
	// ErrNoKubeconfig: cluster-info holds no kubeconfig.
	ErrNoKubeconfig = errors.New("there is no " + bootstrapapi.KubeConfigKey + " key in the " + bootstrapapi.ConfigMapClusterInfo + " ConfigMap. This API Server isn't set up for token bootstrapping, can't connect")
	// ErrNoJWS: cluster-info has no signature for the token's id (until
	// the deadline): the cluster does not know the token, or no longer.
	ErrNoJWS = errors.New("there is no JWS signed token in the " + bootstrapapi.ConfigMapClusterInfo + " ConfigMap")
	// ErrBadSignature: the signature for the token's id does not verify
	// with the token's secret.
	ErrBadSignature = errors.New("failed to verify JWS signature of received cluster info object, can't trust this API Server")
	// ErrMalformed: the kubeconfig does not parse, does not name exactly
	// one cluster, or its cluster has no server or no CA.
	ErrMalformed = errors.New("malformed kubeconfig in the " + bootstrapapi.ConfigMapClusterInfo + " ConfigMap")
	// ErrNotPinned: the CA's public key is none of the pinned ones.
	ErrNotPinned = errors.New("cluster CA found in " + bootstrapapi.ConfigMapClusterInfo + " ConfigMap is not trusted")
	// ErrUntrustedServer: the apiserver's certificate does not verify
	// with the CA cluster-info names.
	ErrUntrustedServer = errors.New("the API Server's certificate does not verify with the CA in the " + bootstrapapi.ConfigMapClusterInfo + " ConfigMap")
	// ErrChanged: cluster-info read over verified TLS differs from what
	// was read before.
	ErrChanged = errors.New("the second kubeconfig from the " + bootstrapapi.ConfigMapClusterInfo + " ConfigMap (using validated TLS) was different from the first")
)

// Defaults, kubeadm's: its discovery timeout, and the timeout of one
// request of its discovery client.
const (
	DefaultTimeout = 5 * time.Minute
	requestTimeout = 10 * time.Second
	// DefaultRetryInterval is the pause between two reads of
	// cluster-info (kubeadm waits 5 s; the signer is quicker here).
	DefaultRetryInterval = 2 * time.Second
)

// Options say which apiserver to ask and what to trust.
type Options struct {
	// Endpoint is the apiserver's host:port.
	Endpoint string
	// Token is the bootstrap token "<id>.<secret>".
	Token string
	// CACertHashes are the pinned CA public keys, "sha256:<hex>".
	CACertHashes []string
	// UnsafeSkipCAVerification accepts any CA when no hash is pinned.
	UnsafeSkipCAVerification bool
	// Timeout bounds the whole discovery, waiting included: for the
	// apiserver to answer and for the signer to sign cluster-info for a
	// new token. DefaultTimeout when zero.
	Timeout time.Duration
	// RetryInterval is the pause between reads; DefaultRetryInterval
	// when zero.
	RetryInterval time.Duration
	// Progress, when set, hears why discovery is still waiting, once per
	// distinct reason.
	Progress func(reason string)
}

// Cluster is what discovery found and verified.
type Cluster struct {
	// Server is the apiserver URL cluster-info names (its advertised
	// address, which may differ from the endpoint asked).
	Server string
	// CAData is the PEM of the cluster's CA.
	CAData []byte
	// Kubeconfig is the verified kubeconfig of cluster-info, as stored.
	Kubeconfig []byte
}

// Validate checks the options before anything is asked of the network,
// with kubeadm's messages.
func (o *Options) Validate() error {
	if _, _, err := net.SplitHostPort(o.Endpoint); err != nil {
		return fmt.Errorf("invalid API server endpoint %q: %w", o.Endpoint, err)
	}
	if _, _, err := bootstraptoken.Parse(o.Token); err != nil {
		return err
	}
	if _, err := parsePins(o.CACertHashes); err != nil {
		return err
	}
	if len(o.CACertHashes) == 0 && !o.UnsafeSkipCAVerification {
		return errors.New("using token-based discovery without --discovery-token-ca-cert-hash can be unsafe. Pass --discovery-token-unsafe-skip-ca-verification to continue")
	}
	return nil
}

// Discover finds the cluster behind o.Endpoint and verifies it, or says
// why it cannot be trusted.
func Discover(ctx context.Context, o Options) (*Cluster, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	id, secret, _ := bootstraptoken.Parse(o.Token)
	pins, _ := parsePins(o.CACertHashes)
	timeout, interval := o.Timeout, o.RetryInterval
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if interval <= 0 {
		interval = DefaultRetryInterval
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f := &fetcher{endpoint: o.Endpoint, tokenID: id, interval: interval, progress: progressOnce(o.Progress)}

	insecure, err := f.fetch(ctx, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig := insecure.Data[bootstrapapi.KubeConfigKey]
	if !jws.DetachedTokenIsValid(insecure.Data[bootstrapapi.JWSSignatureKeyPrefix+id], kubeconfig, id, secret) {
		return nil, ErrBadSignature
	}
	cluster, certs, err := parseKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	if len(pins) == 0 {
		// The caller accepted any CA (Validate made sure): the signature
		// alone vouches for cluster-info, as in kubeadm.
		return cluster, nil
	}
	if err := checkPinned(certs, pins); err != nil {
		return nil, err
	}
	// Ask again, now trusting only that CA: an apiserver that knows the
	// token but does not hold the CA's key fails here.
	secure, err := f.fetch(ctx, cluster.CAData)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal([]byte(secure.Data[bootstrapapi.KubeConfigKey]), []byte(kubeconfig)) {
		return nil, ErrChanged
	}
	return cluster, nil
}

// parseKubeconfig reads cluster-info's kubeconfig: exactly one cluster,
// with a server and a CA.
func parseKubeconfig(kubeconfig string) (*Cluster, []*x509.Certificate, error) {
	cfg, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(cfg.Clusters) != 1 {
		return nil, nil, fmt.Errorf("%w: it names %d clusters, want exactly one", ErrMalformed, len(cfg.Clusters))
	}
	var c *Cluster
	for _, cl := range cfg.Clusters {
		c = &Cluster{Server: cl.Server, CAData: cl.CertificateAuthorityData, Kubeconfig: []byte(kubeconfig)}
	}
	if c.Server == "" {
		return nil, nil, fmt.Errorf("%w: its cluster has no server", ErrMalformed)
	}
	certs, err := certutil.ParseCertsPEM(c.CAData)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: failed to parse its cluster CA: %v", ErrMalformed, err)
	}
	return c, certs, nil
}

// parsePins reads "sha256:<hex>" hashes into their lower-case hex, with
// kubeadm's messages for a bad one.
func parsePins(hashes []string) (map[string]bool, error) {
	pins := map[string]bool{}
	for _, h := range hashes {
		format, value, ok := strings.Cut(h, ":")
		if !ok || strings.Contains(value, ":") {
			return nil, fmt.Errorf("invalid discovery token CA certificate hash: invalid hash %q, expected \"format:hex-value\". Known format(s) are: sha256", h)
		}
		if !strings.EqualFold(format, "sha256") {
			return nil, fmt.Errorf("invalid discovery token CA certificate hash: unknown hash format %q. Known format(s) are: sha256", format)
		}
		if n := hex.DecodedLen(len(value)); n != 32 {
			return nil, fmt.Errorf("invalid discovery token CA certificate hash: invalid hash %q, expected a 32 byte SHA-256 hash, found %d bytes", h, n)
		}
		if _, err := hex.DecodeString(value); err != nil {
			return nil, fmt.Errorf("invalid discovery token CA certificate hash: invalid hash %q, could not decode SHA-256 from hex: %v", h, err)
		}
		pins[strings.ToLower(value)] = true
	}
	return pins, nil
}

// checkPinned accepts the CA bundle when any of its certificates has a
// pinned public key.
func checkPinned(certs []*x509.Certificate, pins map[string]bool) error {
	var hashes []string
	for _, c := range certs {
		h := pki.PublicKeyHash(c)
		if pins[strings.TrimPrefix(h, "sha256:")] {
			return nil
		}
		hashes = append(hashes, h)
	}
	if len(hashes) == 1 {
		return fmt.Errorf("%w: public key %s not pinned", ErrNotPinned, hashes[0])
	}
	return fmt.Errorf("%w: public keys %s not pinned", ErrNotPinned, strings.Join(hashes, ", "))
}

// fetcher reads cluster-info from one endpoint.
type fetcher struct {
	endpoint string
	tokenID  string
	interval time.Duration
	progress func(string)
}

// fetch reads cluster-info anonymously, verifying the server with caData
// (or not at all when nil). It retries, until ctx ends, while the
// apiserver does not answer, answers with an error that may pass (a 5xx,
// 429, or 404 before cluster-info is made), or has not signed
// cluster-info for the token yet; the answer being the same, an
// unverifiable certificate or a refusal to read (401, 403) ends it at
// once.
func (f *fetcher) fetch(ctx context.Context, caData []byte) (*corev1.ConfigMap, error) {
	cfg := &rest.Config{
		Host:      "https://" + f.endpoint,
		Timeout:   requestTimeout,
		UserAgent: "ctl-join/" + rest.DefaultKubernetesUserAgent(),
		// No client-side rate limit: the reads are paced by the retry
		// interval, and a limiter would turn the deadline into its own
		// error ("would exceed context deadline").
		QPS: -1,
	}
	if caData == nil {
		cfg.Insecure = true
	} else {
		cfg.CAData = caData
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create the discovery client: %w", err)
	}
	var last error
	for {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
		switch {
		case err == nil && cm.Data[bootstrapapi.KubeConfigKey] == "":
			return nil, ErrNoKubeconfig
		case err == nil && cm.Data[bootstrapapi.JWSSignatureKeyPrefix+f.tokenID] == "":
			last = fmt.Errorf("%w. This token id %q is invalid for this cluster, or it has expired. Use \"ctl token create\" on the control-plane node to create a new valid token", ErrNoJWS, f.tokenID)
			f.progress(fmt.Sprintf("waiting for the cluster-info ConfigMap to receive a JWS signature for token ID %q", f.tokenID))
		case err == nil:
			return cm, nil
		case caData != nil && isCertificateError(err):
			return nil, fmt.Errorf("%w: %v", ErrUntrustedServer, err)
		case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
			return nil, fmt.Errorf("failed to request the cluster-info ConfigMap: %w", err)
		case (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) && last != nil:
			// The deadline cut this request short: the previous answer
			// says more.
			return nil, last
		default:
			last = fmt.Errorf("failed to request the cluster-info ConfigMap: %w", err)
			f.progress(last.Error())
		}
		select {
		case <-ctx.Done():
			return nil, last
		case <-time.After(f.interval):
		}
	}
}

// isCertificateError reports whether err is the TLS handshake refusing
// the server's certificate.
func isCertificateError(err error) bool {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// progressOnce calls report once per distinct reason.
func progressOnce(report func(string)) func(string) {
	if report == nil {
		return func(string) {}
	}
	last := ""
	return func(reason string) {
		if reason != last {
			last = reason
			report(reason)
		}
	}
}
