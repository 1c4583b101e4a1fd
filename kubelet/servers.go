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

	"k8s.io/apimachinery/pkg/util/sets"

	"coracle.dev/kubelet/internal/server"
	"coracle.dev/shared/pki"
	"coracle.dev/shared/statusserver"
)

// startServers starts the kubelet API (HTTPS: logs, exec, stats) and,
// with --status-address, the status server (/healthz, /readyz,
// /metrics).
func (k *Kubelet) startServers() error {
	cert, key, err := k.servingCert()
	if err != nil {
		return err
	}
	cas, err := k.clientCAs()
	if err != nil {
		return err
	}
	k.server, err = server.New(server.Options{
		Address: net.JoinHostPort(k.opts.Address, fmt.Sprint(k.opts.Port)), CertPEM: cert, KeyPEM: key, ClientCAs: cas,
		Runtime: k.runtime, Pods: k.cachedPods, Log: k.log.Named("server"),
	})
	if err != nil {
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
