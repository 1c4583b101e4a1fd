package certificate

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/certificate"
)

// Manager keeps one certificate: Current is the one to use (nil until
// there is one), Start renews it in the background at 70–90 % of its
// life (jittered, so nodes that joined together do not all ask at
// once), Stop ends that. It is client-go's certificate.Manager, the one
// Kubernetes' kubelet runs.
type Manager = certificate.Manager

// ErrNoServingCertificate is what a TLS handshake on the kubelet API
// fails with before the serving certificate is issued.
var ErrNoServingCertificate = errors.New("no serving certificate available for the kubelet")

// NewClientManager returns the manager of the client certificate in
// certDir/kubelet-client-current.pem: it renews it with a CSR that the
// node sends with its current credential (client), which the approver
// knows as a node renewing its own certificate. The kubeconfig the
// bootstrap wrote reads that file, and client-go reloads certificate
// files, so the kubelet's clients take up the new certificate by
// themselves.
func NewClientManager(certDir, nodeName string, client kubernetes.Interface) (Manager, error) {
	store, err := certificate.NewFileStore(ClientPairPrefix, certDir, certDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("client certificate store: %w", err)
	}
	subject := NodeSubject(nodeName)
	return certificate.NewManager(&certificate.Config{
		ClientsetFn:      func(*tls.Certificate) (kubernetes.Interface, error) { return client, nil },
		Template:         &x509.CertificateRequest{Subject: subject},
		SignerName:       certificatesv1.KubeAPIServerClientKubeletSignerName,
		GetUsages:        certificate.DefaultKubeletClientGetUsages,
		CertificateStore: store,
	})
}

// NewServerManager returns the manager of the serving certificate in
// certDir/kubelet-server-current.pem, signed by kubernetes.io/kubelet-serving
// for the node's addresses (ServerTemplate): it asks for one as soon as
// addresses returns an IP address, again whenever the addresses change,
// and renews it.
func NewServerManager(certDir, nodeName string, addresses func() []corev1.NodeAddress, client kubernetes.Interface) (Manager, error) {
	store, err := certificate.NewFileStore(ServerPairPrefix, certDir, certDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("serving certificate store: %w", err)
	}
	return certificate.NewManager(&certificate.Config{
		ClientsetFn:      func(*tls.Certificate) (kubernetes.Interface, error) { return client, nil },
		GetTemplate:      func() *x509.CertificateRequest { return ServerTemplate(nodeName, addresses()) },
		SignerName:       certificatesv1.KubeletServingSignerName,
		GetUsages:        certificate.DefaultKubeletServingGetUsages,
		CertificateStore: store,
	})
}

// ServerTemplate is the request for a node's serving certificate, as
// Kubernetes' kubelet makes it: subject system:node:<name> in
// system:nodes, the InternalIP and ExternalIP addresses as IP SANs, the
// Hostname and DNS addresses as DNS SANs (a Hostname that is an IP as an
// IP SAN), sorted. Nil while there is no IP address: the approver checks
// the IPs against the Node's status.addresses, so the request waits for
// them.
func ServerTemplate(nodeName string, addresses []corev1.NodeAddress) *x509.CertificateRequest {
	var names, ips []string
	for _, a := range addresses {
		if a.Address == "" {
			continue
		}
		ip := net.ParseIP(a.Address)
		switch a.Type {
		case corev1.NodeHostName:
			if ip != nil {
				ips = append(ips, ip.String())
			} else {
				names = append(names, a.Address)
			}
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip != nil {
				ips = append(ips, ip.String())
			}
		case corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			names = append(names, a.Address)
		}
	}
	if len(ips) == 0 {
		return nil
	}
	slices.Sort(names)
	slices.Sort(ips)
	t := &x509.CertificateRequest{Subject: NodeSubject(nodeName), DNSNames: slices.Compact(names)}
	for _, ip := range slices.Compact(ips) {
		t.IPAddresses = append(t.IPAddresses, net.ParseIP(ip))
	}
	return t
}

// GetCertificate serves m's current certificate, for a
// tls.Config.GetCertificate: the server starts before the certificate is
// issued and takes up a renewed one at the next handshake.
func GetCertificate(m Manager) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := m.Current(); c != nil {
			return c, nil
		}
		return nil, ErrNoServingCertificate
	}
}
