package etcd

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"coracle.dev/shared/pki"
)

// Certificate names, as kubeadm lays them out under /etc/kubernetes/pki:
// the etcd CA and the member's serving and peer pairs in pki/etcd, the
// apiserver's client pair beside the cluster's own certificates in pki.
const (
	caName     = "ca"
	serverName = "server"
	peerName   = "peer"
	clientName = "apiserver-etcd-client"
	// ClientCommonName is the apiserver's name to etcd, kubeadm's.
	ClientCommonName = "kube-apiserver-etcd-client"
)

// renewBefore is how long before it expires a certificate is issued
// again on start, so a cluster restarted now and then never runs on an
// expired one.
const renewBefore = 30 * 24 * time.Hour

// Certificates are the files of the embedded etcd's TLS, under a data
// directory's pki.
type Certificates struct {
	// CAFile is the etcd CA, which signs everything below and is the only
	// authority the member trusts for clients and peers.
	CAFile string
	// ServerCertFile and ServerKeyFile serve etcd's client URL.
	ServerCertFile, ServerKeyFile string
	// PeerCertFile and PeerKeyFile serve (and dial) the peer URL.
	PeerCertFile, PeerKeyFile string
	// ClientCertFile and ClientKeyFile are the apiserver's client pair.
	ClientCertFile, ClientKeyFile string
}

// EnsureCertificates makes, under dataDir/pki, the etcd CA, the member's
// serving and peer certificates for hosts (and the loopback names), and
// the apiserver's client certificate, or reuses those already there. A
// certificate that no longer chains to the CA, no longer names every host
// or expires within 30 days is issued again; a new CA reissues all.
func EnsureCertificates(dataDir string, hosts []string) (Certificates, error) {
	base := filepath.Join(dataDir, "pki")
	etcdDir := filepath.Join(base, "etcd")
	files := func(dir, name string) (string, string) {
		return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	}
	c := Certificates{CAFile: filepath.Join(etcdDir, caName+".crt")}
	c.ServerCertFile, c.ServerKeyFile = files(etcdDir, serverName)
	c.PeerCertFile, c.PeerKeyFile = files(etcdDir, peerName)
	c.ClientCertFile, c.ClientKeyFile = files(base, clientName)

	ca, fresh, err := loadOrCreateCA(etcdDir)
	if err != nil {
		return Certificates{}, err
	}
	ips, dnsNames := splitHosts(append([]string{"127.0.0.1", "::1", "localhost"}, hosts...))
	nodeName, err := os.Hostname()
	if err != nil || nodeName == "" {
		nodeName = "etcd"
	}
	nodeName = strings.ToLower(nodeName)
	wanted := []struct {
		dir, name string
		req       pki.Request
	}{
		// Serving pairs are for clients too, as kubeadm's: etcd's gateway
		// dials the member with its serving certificate.
		{etcdDir, serverName, pki.Request{CommonName: nodeName, IPs: ips, DNSNames: dnsNames, Usage: pki.ServerAndClientUsage}},
		{etcdDir, peerName, pki.Request{CommonName: nodeName, IPs: ips, DNSNames: dnsNames, Usage: pki.ServerAndClientUsage}},
		{base, clientName, pki.Request{CommonName: ClientCommonName, Usage: pki.ClientUsage}},
	}
	for _, w := range wanted {
		if !fresh && pki.Exists(w.dir, w.name) {
			kp, err := pki.Load(w.dir, w.name)
			if err != nil {
				return Certificates{}, fmt.Errorf("load etcd certificate %s: %w", w.name, err)
			}
			if current(kp.Cert, ca, w.req) {
				continue
			}
		}
		kp, err := ca.Issue(w.req)
		if err != nil {
			return Certificates{}, fmt.Errorf("issue etcd certificate %s: %w", w.name, err)
		}
		if err := kp.Write(w.dir, w.name); err != nil {
			return Certificates{}, err
		}
	}
	return c, nil
}

// loadOrCreateCA returns the etcd CA in dir, creating it when missing;
// fresh reports that it is new.
func loadOrCreateCA(dir string) (ca *pki.KeyPair, fresh bool, err error) {
	if pki.Exists(dir, caName) {
		ca, err := pki.Load(dir, caName)
		if err != nil {
			return nil, false, fmt.Errorf("load etcd CA: %w", err)
		}
		return ca, false, nil
	}
	if ca, err = pki.NewCA("etcd-ca"); err != nil {
		return nil, false, err
	}
	if err := ca.Write(dir, caName); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// current reports whether cert chains to ca for its usage, names every
// address req asks for and is not about to expire.
func current(cert *x509.Certificate, ca *pki.KeyPair, req pki.Request) bool {
	if time.Until(cert.NotAfter) < renewBefore {
		return false
	}
	usage := x509.ExtKeyUsageClientAuth
	if req.Usage != pki.ClientUsage {
		usage = x509.ExtKeyUsageServerAuth
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return false
	}
	for _, ip := range req.IPs {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	for _, n := range req.DNSNames {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// splitHosts sorts hosts into IP addresses and DNS names, once each.
func splitHosts(hosts []string) ([]net.IP, []string) {
	var ips []net.IP
	var names []string
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, h)
		}
	}
	return ips, names
}
