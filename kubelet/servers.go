package kubelet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"coracle.dev/kubelet/internal/certificate"
	"coracle.dev/kubelet/internal/server"
	"coracle.dev/shared/pki"
	"coracle.dev/shared/statusserver"
)

// startServers starts the kubelet API (HTTPS: logs, exec, stats) and,
// with --status-address, the status server (/healthz, /readyz,
// /metrics).
func (k *Kubelet) startServers() error {
	cas, err := k.clientCAs()
	if err != nil {
		return err
	}
	authn, authz := k.apiAuth(cas)
	so := server.Options{
		Address:  net.JoinHostPort(k.opts.Address, fmt.Sprint(k.opts.Port)),
		NodeName: k.nodes[0], Authenticator: authn, Authorizer: authz,
		Runtime: k.runtime, Pods: k.cachedPods, Log: k.log.Named("server"),
	}
	if k.opts.RotateServerCertificates && k.opts.TLSCertFile == "" {
		// The server starts now and presents the certificate once the
		// cluster issues it (runServerCertificate).
		m, err := certificate.NewServerManager(filepath.Join(k.opts.RootDir, "pki"), k.opts.NodeName,
			func() []v1.NodeAddress { return k.nodeAddresses(k.opts.NodeName) }, k.client)
		if err != nil {
			return err
		}
		k.serverCerts = m
		so.GetCertificate = certificate.GetCertificate(m)
	} else if so.CertPEM, so.KeyPEM, err = k.servingCert(); err != nil {
		return err
	}
	if k.server, err = server.New(so); err != nil {
		return err
	}
	if err := k.server.Start(); err != nil {
		return fmt.Errorf("kubelet API: %w", err)
	}
	k.OnClose(func(context.Context) error { return k.server.Close() })
	if k.opts.StatusAddress == "" {
		return nil
	}
	k.status = statusserver.New(k.opts.StatusAddress, k.log.Named("status"))
	if err := k.ServeStatus(k.status, "node-registered", "node not registered or pods not listed yet"); err != nil {
		return fmt.Errorf("status server: %w", err)
	}
	k.status.AddReadyCheck("runtime", func(context.Context) error { return k.runtime.Status() })
	return nil
}

// apiAuth builds the kubelet API's authentication and authorization from
// the options, as Kubernetes' kubelet in webhook mode: client
// certificates of cas, bearer tokens reviewed by the apiserver
// (--authentication-token-webhook), anonymous requests only with
// --anonymous-auth; SubjectAccessReviews (--authorization-mode=Webhook).
// The reviews go with the node's credential: its role lets it create
// tokenreviews and subjectaccessreviews. With fake nodes one server
// answers for all of them, authorized as the first.
func (k *Kubelet) apiAuth(cas *x509.CertPool) (*server.Authenticator, server.Authorizer) {
	ao := server.AuthenticatorOptions{ClientCAs: cas, Anonymous: k.opts.AnonymousAuth, TokenCacheTTL: k.opts.AuthenticationTokenWebhookTTL}
	if k.opts.AuthenticationTokenWebhook {
		ao.TokenReviews = k.client.AuthenticationV1().TokenReviews()
	}
	var authz server.Authorizer = server.AlwaysAllow{}
	if k.opts.AuthorizationMode == AuthorizationModeWebhook {
		authz = server.NewWebhookAuthorizer(k.client.AuthorizationV1().SubjectAccessReviews(),
			k.opts.AuthorizationWebhookAllowedTTL, k.opts.AuthorizationWebhookDeniedTTL)
	}
	return server.NewAuthenticator(ao), authz
}

// runServerCertificate gets the kubelet API's certificate from the
// cluster and renews it (--rotate-server-certificates). It asks only
// once the Node is registered: the approver checks the certificate's
// addresses against the Node's status.addresses.
func (k *Kubelet) runServerCertificate(ctx context.Context) error {
	select {
	case <-k.managers[k.opts.NodeName].Registered():
	case <-ctx.Done():
		return nil
	}
	if k.serverCerts.Current() == nil {
		k.log.Info("requesting the kubelet API's serving certificate from the cluster", zap.String("signer", "kubernetes.io/kubelet-serving"))
	}
	k.serverCerts.Start()
	<-ctx.Done()
	k.serverCerts.Stop()
	return nil
}

// runClientCertificate renews the client certificate the bootstrap got
// (--rotate-certificates). Only that one: a kubeconfig with credentials
// of another kind is the administrator's to renew.
func (k *Kubelet) runClientCertificate(ctx context.Context) error {
	pemPath, err := filepath.Abs(filepath.Join(k.opts.RootDir, "pki", certificate.ClientPairPrefix+"-current.pem"))
	if err != nil {
		return err
	}
	if k.rest.CertFile != pemPath || k.rest.KeyFile != pemPath {
		k.log.Info("client certificate rotation off: the kubeconfig's credential is not the one the TLS bootstrap wrote", zap.String("want", pemPath))
		return nil
	}
	m, err := certificate.NewClientManager(filepath.Dir(pemPath), k.opts.NodeName, k.client)
	if err != nil {
		k.log.Error("client certificate rotation off", zap.Error(err))
		return nil
	}
	m.Start()
	<-ctx.Done()
	m.Stop()
	return nil
}

// serverPort is the kubelet API's port once listening (the configured one
// before).
func (k *Kubelet) serverPort() int {
	if k.server != nil {
		if _, p, err := net.SplitHostPort(k.server.Addr()); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				return n
			}
		}
	}
	return k.opts.Port
}

// clientCAs are the CAs whose clients the kubelet API accepts: the
// --client-ca-file, else the kubeconfig's CA.
func (k *Kubelet) clientCAs() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	var data []byte
	if k.opts.ClientCAFile != "" {
		b, err := os.ReadFile(k.opts.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		data = b
	} else {
		data = k.rest.CAData
		if len(data) == 0 && k.rest.CAFile != "" {
			b, err := os.ReadFile(k.rest.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig CA: %w", err)
			}
			data = b
		}
	}
	if len(data) == 0 || !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no client CA: give --client-ca-file or a kubeconfig with certificate-authority data")
	}
	return pool, nil
}

// servingCert returns the kubelet API's certificate: the configured one,
// or a self-signed one kept in ROOT/pki, as the kubelet makes when none
// is given.
func (k *Kubelet) servingCert() ([]byte, []byte, error) {
	if k.opts.TLSCertFile != "" {
		cert, err := os.ReadFile(k.opts.TLSCertFile)
		if err != nil {
			return nil, nil, err
		}
		key, err := os.ReadFile(k.opts.TLSKeyFile)
		if err != nil {
			return nil, nil, err
		}
		return cert, key, nil
	}
	dir := filepath.Join(k.opts.RootDir, "pki")
	if pki.Exists(dir, "kubelet") {
		kp, err := pki.Load(dir, "kubelet")
		if err == nil && time.Until(kp.Cert.NotAfter) > 24*time.Hour {
			return kp.CertPEM, kp.KeyPEM, nil
		}
	}
	ca, err := pki.NewCA(k.opts.NodeName + "-ca@" + time.Now().Format("20060102150405"))
	if err != nil {
		return nil, nil, err
	}
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	if ip := net.ParseIP(k.nodeIP); ip != nil {
		ips = append(ips, ip)
	}
	names := sets.New(k.opts.NodeName, "localhost")
	if h, err := os.Hostname(); err == nil {
		names.Insert(h)
	}
	kp, err := ca.Issue(pki.Request{CommonName: k.opts.NodeName, DNSNames: sets.List(names), IPs: ips, Usage: pki.ServerUsage})
	if err != nil {
		return nil, nil, err
	}
	if err := kp.Write(dir, "kubelet"); err != nil {
		return nil, nil, err
	}
	return kp.CertPEM, kp.KeyPEM, nil
}
