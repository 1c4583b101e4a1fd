package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/pki"
)

// Certificate file names under DATA_DIR/pki.
const (
	caName      = "ca"
	servingName = "apiserver"
	adminName   = "admin"
	kubeletName = "apiserver-kubelet-client"
)

// credentials are the apiserver's CA, serving pair, admin pair, the
// client pair it presents to kubelets, and the control plane components'
// own pairs.
type credentials struct {
	ca, serving, admin, kubeletClient *pki.KeyPair
	// components are the scheduler's, the controller manager's and
	// kube-proxy's client pairs, by kubeconfig file name.
	components map[string]*pki.KeyPair
}

// identity is a control plane program with an identity of its own, as
// kubeadm gives each one a kubeconfig: only the rights Kubernetes'
// bootstrap policy binds to its user.
type identity struct {
	file string // DATA_DIR/<file>.conf and pki/<file>.crt
	user string
}

// components get their kubeconfigs next to admin.conf. kube-proxy's
// system:kube-proxy is bound to system:node-proxier by the bootstrap
// policy (kubeadm runs it with a ServiceAccount instead; a kubeconfig
// suits a kube-proxy that runs as a host service).
var components = []identity{
	{"scheduler", "system:kube-scheduler"},
	{"controller-manager", "system:kube-controller-manager"},
	{"kube-proxy", "system:kube-proxy"},
}

// loadOrCreateCredentials reuses what DATA_DIR/pki holds and creates what
// is missing. A serving certificate that no longer covers every address
// the apiserver answers on is reissued by the same CA.
func loadOrCreateCredentials(dir string, ips []net.IP, dnsNames []string) (*credentials, error) {
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, err
	}
	c := &credentials{}
	var err error
	if pki.Exists(pkiDir, caName) {
		if c.ca, err = pki.Load(pkiDir, caName); err != nil {
			return nil, fmt.Errorf("load cluster CA: %w", err)
		}
	} else {
		if c.ca, err = pki.NewCA("coracle-ca"); err != nil {
			return nil, err
		}
		if err := c.ca.Write(pkiDir, caName); err != nil {
			return nil, err
		}
	}
	if pki.Exists(pkiDir, servingName) {
		if c.serving, err = pki.Load(pkiDir, servingName); err != nil {
			return nil, fmt.Errorf("load serving certificate: %w", err)
		}
	}
	if c.serving == nil || !covers(c.serving.Cert, c.ca, ips, dnsNames) {
		c.serving, err = c.ca.Issue(pki.Request{CommonName: "coracle-apiserver", DNSNames: dnsNames, IPs: ips, Usage: pki.ServerUsage})
		if err != nil {
			return nil, err
		}
		if err := c.serving.Write(pkiDir, servingName); err != nil {
			return nil, err
		}
	}
	masters := []string{"system:masters"}
	if c.admin, err = loadOrIssueClient(c.ca, pkiDir, adminName, "kubernetes-admin", masters); err != nil {
		return nil, err
	}
	if c.kubeletClient, err = loadOrIssueClient(c.ca, pkiDir, kubeletName, "kube-apiserver-kubelet-client", masters); err != nil {
		return nil, err
	}
	c.components = map[string]*pki.KeyPair{}
	for _, comp := range components {
		if c.components[comp.file], err = loadOrIssueClient(c.ca, pkiDir, comp.file, comp.user, nil); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// loadOrIssueClient reuses dir/name or issues a client certificate with
// common name cn in groups orgs.
func loadOrIssueClient(ca *pki.KeyPair, dir, name, cn string, orgs []string) (*pki.KeyPair, error) {
	if pki.Exists(dir, name) {
		kp, err := pki.Load(dir, name)
		if err != nil {
			return nil, fmt.Errorf("load %s certificate: %w", name, err)
		}
		return kp, nil
	}
	kp, err := ca.Issue(pki.Request{CommonName: cn, Organization: orgs, Usage: pki.ClientUsage})
	if err != nil {
		return nil, err
	}
	if err := kp.Write(dir, name); err != nil {
		return nil, err
	}
	return kp, nil
}

// kubeletTransport reaches kubelets with the kubelet client certificate.
// With cas (--kubelet-certificate-authority) a kubelet's serving
// certificate must chain to them and name the address dialed, the node's
// InternalIP; without, it is not verified, as kube-apiserver does with no
// kubelet CA, since kubelets serve self-signed certificates unless given
// one. HTTP/1.1 only: exec streams are upgraded connections.
func (c *credentials) kubeletTransport(cas *x509.CertPool) *http.Transport {
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{c.kubeletClient.Cert.Raw}, PrivateKey: c.kubeletClient.Key, Leaf: c.kubeletClient.Cert}},
		RootCAs:      cas,
		MinVersion:   tls.VersionTLS12,
	}
	if cas == nil {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // no kubelet CA configured: kubelets' certificates may be self-signed
	}
	return &http.Transport{
		TLSClientConfig:     tlsCfg,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
}

// covers reports whether cert is signed by ca and valid for every address.
func covers(cert *x509.Certificate, ca *pki.KeyPair, ips []net.IP, dnsNames []string) bool {
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	for _, ip := range ips {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	for _, n := range dnsNames {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// writeAdminKubeconfig writes the admin credential for server.
func (c *credentials) writeAdminKubeconfig(path, server string) error {
	return kubeconfig.Write(path, c.adminCredentials(server))
}

// writeComponentKubeconfigs writes each component's kubeconfig in dir,
// next to admin.conf, as kubeadm writes scheduler.conf and
// controller-manager.conf beside it.
func (c *credentials) writeComponentKubeconfigs(dir, server string) error {
	for _, comp := range components {
		kp := c.components[comp.file]
		err := kubeconfig.Write(filepath.Join(dir, comp.file+".conf"), kubeconfig.Credentials{
			ClusterName: "coracle", Server: server, CAData: c.ca.CertPEM,
			UserName: comp.user, ClientCertData: kp.CertPEM, ClientKeyData: kp.KeyPEM,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *credentials) adminCredentials(server string) kubeconfig.Credentials {
	return kubeconfig.Credentials{
		ClusterName: "coracle", Server: server, CAData: c.ca.CertPEM,
		UserName: "admin", ClientCertData: c.admin.CertPEM, ClientKeyData: c.admin.KeyPEM,
	}
}

// hostAddresses lists the host's interface IPv4 addresses.
func hostAddresses() []net.IP {
	var out []net.IP
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		ipNet, ok := a.(*net.IPNet)
		if !ok || ipNet.IP.To4() == nil {
			continue
		}
		out = append(out, ipNet.IP.To4())
	}
	return out
}

// firstNonLoopback is the host's first non-loopback IPv4, or 127.0.0.1.
func firstNonLoopback() net.IP {
	for _, ip := range hostAddresses() {
		if !ip.IsLoopback() {
			return ip
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

// loadCertPool reads a PEM bundle of CA certificates.
func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
