// Package certificate gets the kubelet its certificates from the
// cluster through CertificateSigningRequests, as Kubernetes' kubelet
// does (pkg/kubelet/certificate): the TLS bootstrap of the client
// credential with a bootstrap token (LoadClientCert), and managers that
// renew the client certificate and obtain and renew the serving one
// (NewClientManager, NewServerManager). The certificates live in the
// kubelet's pki directory as kubelet-client-current.pem and
// kubelet-server-current.pem, each one PEM file with the certificate and
// its key (client-go's certificate.FileStore: a symlink to the newest
// timestamped file, switched atomically).
package certificate

import (
	"context"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/transport"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/certificate/csr"
	"k8s.io/client-go/util/keyutil"

	"coracle.dev/shared/kubeconfig"
)

// Names of the kubelet's certificate pairs in its pki directory, as
// Kubernetes names them: <prefix>-current.pem is the one in use.
const (
	ClientPairPrefix = "kubelet-client"
	ServerPairPrefix = "kubelet-server"
)

// tmpPrivateKeyFile keeps the key of a client CSR in flight, so a
// kubelet restarted while waiting asks again with the same key, and so
// finds its CSR (named after the key) instead of making another.
const tmpPrivateKeyFile = "kubelet-client.key.tmp"

// CertificateWaitTimeout bounds the wait for a CSR's certificate, as
// Kubernetes' kubelet bounds it: approval may be a person's.
const CertificateWaitTimeout = time.Hour

// serverWaitTimeout bounds the wait for the apiserver to answer before
// the first request: a node booting with its control plane.
const serverWaitTimeout = time.Minute

// Bootstrap says how to get the kubelet's client credential.
type Bootstrap struct {
	// Kubeconfig is the kubeconfig the kubelet runs with: used as is
	// when its client certificate is valid, else written.
	Kubeconfig string
	// BootstrapKubeconfig has the bootstrap token the CSR is sent with.
	BootstrapKubeconfig string
	// CertDir receives kubelet-client-current.pem.
	CertDir  string
	NodeName string
	Log      *zap.Logger
	// Timeout bounds the wait for the certificate; 0 means
	// CertificateWaitTimeout.
	Timeout time.Duration
}

// LoadClientCert gets the kubelet a client certificate of its own, if
// the Kubeconfig file has no valid one: with the BootstrapKubeconfig's
// credential (a bootstrap token) it sends a CSR for system:node:<name>
// in system:nodes, waits for its certificate, stores it with its key in
// CertDir and writes Kubeconfig pointing at that file. The bootstrap
// credential is not used again while the certificate is valid.
func LoadClientCert(ctx context.Context, b Bootstrap) error {
	log := b.Log
	if log == nil {
		log = zap.NewNop()
	}
	ok, err := ValidClientConfig(b.Kubeconfig)
	if err != nil {
		return err
	}
	if ok {
		log.Info("kubeconfig has a valid client certificate; no bootstrap needed", zap.String("kubeconfig", b.Kubeconfig))
		return nil
	}
	log.Info("requesting a client certificate with the bootstrap kubeconfig", zap.String("bootstrapKubeconfig", b.BootstrapKubeconfig))
	bootstrapConfig, err := loadRESTConfig(b.BootstrapKubeconfig)
	if err != nil {
		return fmt.Errorf("--bootstrap-kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(bootstrapConfig)
	if err != nil {
		return fmt.Errorf("certificate signing request client: %w", err)
	}
	certDir, err := filepath.Abs(b.CertDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	store, err := certificate.NewFileStore(ClientPairPrefix, certDir, certDir, "", "")
	if err != nil {
		return fmt.Errorf("client certificate store: %w", err)
	}
	// The key of an expired certificate is used again; else the key of a
	// request that did not finish, else a new one.
	var keyData []byte
	if cert, err := store.Current(); err == nil && cert.PrivateKey != nil {
		if keyData, err = keyutil.MarshalPrivateKeyToPEM(cert.PrivateKey); err != nil {
			keyData = nil
		}
	}
	keyPath := filepath.Join(certDir, tmpPrivateKeyFile)
	if len(keyData) == 0 {
		if keyData, _, err = keyutil.LoadOrGenerateKeyFile(keyPath); err != nil {
			return err
		}
	}
	if err := waitForServer(ctx, bootstrapConfig, serverWaitTimeout); err != nil {
		log.Warn("apiserver not answering; requesting anyway", zap.Error(err))
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = CertificateWaitTimeout
	}
	certData, err := RequestNodeCertificate(ctx, client, keyData, b.NodeName, timeout, log)
	if err != nil {
		return err
	}
	if _, err := store.Update(certData, keyData); err != nil {
		return fmt.Errorf("store client certificate: %w", err)
	}
	if err := os.Remove(keyPath); err != nil && !os.IsNotExist(err) {
		log.Warn("remove the request's key", zap.String("path", keyPath), zap.Error(err))
	}
	if err := WriteKubeconfig(bootstrapConfig, b.Kubeconfig, store.CurrentPath()); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", b.Kubeconfig, err)
	}
	log.Info("client certificate issued; kubeconfig written", zap.String("kubeconfig", b.Kubeconfig), zap.String("certificate", store.CurrentPath()))
	return nil
}

// Kubeconfig is the kubeconfig the kubelet writes after its bootstrap,
// the shape of Kubernetes' kubelet.conf: the server and CA of the
// bootstrap kubeconfig, and the client certificate and key both read
// from pemPath, so a renewed certificate is picked up without a rewrite.
func Kubeconfig(bootstrap *rest.Config, pemPath string) clientcmdapi.Config {
	caFile, caData := bootstrap.CAFile, []byte(nil)
	if caFile == "" {
		caData = bootstrap.CAData
	}
	return clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"default-cluster": {
			Server:                   bootstrap.Host,
			InsecureSkipTLSVerify:    bootstrap.Insecure,
			CertificateAuthority:     caFile,
			CertificateAuthorityData: caData,
		}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{"default-auth": {
			ClientCertificate: pemPath,
			ClientKey:         pemPath,
		}},
		Contexts: map[string]*clientcmdapi.Context{"default-context": {
			Cluster:   "default-cluster",
			AuthInfo:  "default-auth",
			Namespace: "default",
		}},
		CurrentContext: "default-context",
	}
}

// WriteKubeconfig writes Kubeconfig(bootstrap, pemPath) to path (mode
// 0600) through a temporary file and a rename, so a kubelet never reads
// half of it.
func WriteKubeconfig(bootstrap *rest.Config, path, pemPath string) error {
	return kubeconfig.WriteConfig(path, Kubeconfig(bootstrap, pemPath))
}

// ValidClientConfig reports whether the kubeconfig at path exists and
// has a client certificate that parses and has not expired. A file that
// cannot be read as a kubeconfig is not valid (and is rewritten); only a
// file that cannot be looked at is an error.
func ValidClientConfig(path string) (bool, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	cfg, err := loadRESTConfig(path)
	if err != nil {
		return false, nil
	}
	tc, err := cfg.TransportConfig()
	if err != nil {
		return false, nil
	}
	// Fills the transport config's data from its files.
	if _, err := transport.TLSConfigFor(tc); err != nil {
		return false, nil
	}
	certs, err := certutil.ParseCertsPEM(tc.TLS.CertData)
	if err != nil || len(certs) == 0 {
		return false, nil
	}
	now := time.Now()
	for _, c := range certs {
		if now.After(c.NotAfter) {
			return false, nil
		}
	}
	return true, nil
}

// NodeSubject is the subject of a node's certificates: the Node
// authorizer and NodeRestriction know the node by it, and the CSR
// approver checks it.
func NodeSubject(nodeName string) pkix.Name {
	return pkix.Name{CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}}
}

// ClientCSR builds the CSR a node sends for its client certificate: its
// PEM request, name and usages. The name is Kubernetes' node-csr-<digest>
// of the public key, subject and usages, so a kubelet that asks again
// with the same key finds its request instead of making another; the
// usages are what kubelet 1.32 asks for (key encipherment for RSA keys
// only).
func ClientCSR(key crypto.Signer, nodeName string) (pemData []byte, name string, usages []certificatesv1.KeyUsage, err error) {
	subject := NodeSubject(nodeName)
	pemData, err = certutil.MakeCSR(key, &subject, nil, nil)
	if err != nil {
		return nil, "", nil, fmt.Errorf("make certificate request: %w", err)
	}
	usages = certificate.DefaultKubeletClientGetUsages(key)
	name, err = digestedName(key.Public(), subject, usages)
	if err != nil {
		return nil, "", nil, err
	}
	return pemData, name, usages, nil
}

// RequestNodeCertificate sends the node's client CSR, signed with the
// key in keyPEM, to signer kubernetes.io/kube-apiserver-client-kubelet
// and waits (watching it) until it is issued, denied or failed, or
// timeout passes. Errors name the CSR.
func RequestNodeCertificate(ctx context.Context, client kubernetes.Interface, keyPEM []byte, nodeName string, timeout time.Duration, log *zap.Logger) ([]byte, error) {
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("private key for the certificate request: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key %T cannot sign", key)
	}
	req, name, usages, err := ClientCSR(signer, nodeName)
	if err != nil {
		return nil, err
	}
	reqName, reqUID, err := csr.RequestCertificateWithContext(ctx, client, req, name, certificatesv1.KubeAPIServerClientKubeletSignerName, nil, usages, key)
	switch {
	case apierrors.IsUnauthorized(err):
		return nil, fmt.Errorf("certificate signing request %s: the apiserver does not accept the bootstrap credential (401 Unauthorized: a wrong, expired or deleted bootstrap token?): %w", name, err)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("certificate signing request %s: the bootstrap credential may not create CSRs (403 Forbidden: is the token's group bound to system:node-bootstrapper?): %w", name, err)
	case err != nil:
		return nil, fmt.Errorf("certificate signing request %s: %w", name, err)
	}
	log.Info("certificate signing request sent; waiting for its certificate", zap.String("csr", reqName), zap.Stringer("timeout", timeout))
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cert, err := csr.WaitForCertificate(wctx, client, reqName, reqUID)
	switch {
	case err == nil:
		return cert, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("certificate signing request %s: stopped waiting for its certificate: %w", reqName, ctx.Err())
	case wait.Interrupted(err) || wctx.Err() != nil:
		return nil, fmt.Errorf("certificate signing request %s: no certificate issued within %s (approve it: kubectl certificate approve %s; or check the controller manager's CSR approver and signer)", reqName, timeout, reqName)
	default:
		return nil, fmt.Errorf("certificate signing request %s: %w", reqName, err)
	}
}

// digestedName is Kubernetes' node-csr-<digest>: SHA-512/256 over the
// public key, the subject's CN and O and the usages, each base64 (URL
// alphabet) and ended by a '|', which that alphabet lacks, so that no
// two inputs run together into the same stream.
func digestedName(publicKey any, subject pkix.Name, usages []certificatesv1.KeyUsage) (string, error) {
	hash := sha512.New512_256()
	encode := base64.RawURLEncoding.EncodeToString
	write := func(data []byte) {
		hash.Write([]byte(encode(data)))
		hash.Write([]byte{'|'})
	}
	der, err := x509.MarshalPKIXPublicKey(publicKey)
	if err != nil {
		return "", err
	}
	write(der)
	write([]byte(subject.CommonName))
	for _, o := range subject.Organization {
		write([]byte(o))
	}
	for _, u := range usages {
		write([]byte(u))
	}
	return "node-csr-" + encode(hash.Sum(nil)), nil
}

func loadRESTConfig(path string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	cfg, err := rules.Load()
	if err != nil {
		return nil, err
	}
	return clientcmd.NewNonInteractiveClientConfig(*cfg, cfg.CurrentContext, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
}

// waitForServer polls /healthz until the apiserver answers, for at most
// timeout.
func waitForServer(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	c := rest.CopyConfig(cfg)
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	c.Timeout = time.Second
	cli, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	err = wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = cli.Get().AbsPath("/healthz").DoRaw(ctx)
		// Any HTTP answer, a 401 for a bad token included, means the
		// server is up: the request that follows says what is wrong.
		var status apierrors.APIStatus
		return last == nil || errors.As(last, &status), nil
	})
	if err != nil {
		return errors.Join(errors.New("apiserver did not answer /healthz"), last)
	}
	return nil
}
