// Package certs is `ctl certs`: kubeadm's `kubeadm certs check-expiration`
// and `kubeadm certs renew` for Coracle's control plane. The apiserver
// keeps its PKI in one directory (--cert-dir, DATA_DIR/pki): the cluster
// CA and the certificates it signs, and, with the embedded etcd, the etcd
// CA under etcd/ and what that signs. The client certificates of the
// admin and of the control plane programs are also embedded in the
// kubeconfigs the apiserver writes beside admin.conf (--kubeconfig-dir)
// from those pki files at each start.
//
// A certificate is checked where the cluster uses it: a .conf row reads
// the kubeconfig's embedded client certificate (the pki pair when the
// kubeconfig is absent). Renewal is kubeadm's: the same CA issues the
// certificate again for a year, keeping its subject, SANs and usages, with
// a new key; the pki pair is replaced and, for a .conf, the kubeconfig's
// client certificate and key too, everything else in it kept. CAs are
// checked, never renewed.
package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/shared/pki"
)

// Where a control plane installed from deploy/ keeps its PKI and
// kubeconfigs (deploy/config/apiserver.yaml: data-dir and
// admin-kubeconfig).
const (
	DefaultCertDir       = "/var/lib/coracle/apiserver/pki"
	DefaultKubeconfigDir = "/etc/coracle"
)

// authority is a CA of the control plane.
type authority struct {
	// name is kubeadm's, shown in the tables.
	name string
	// baseName is its pair under the cert dir, without .crt and .key.
	baseName string
}

var (
	clusterCA = authority{name: "ca", baseName: "ca"}
	etcdCA    = authority{name: "etcd-ca", baseName: "etcd/ca"}
)

// leaf is a certificate one of the authorities signs.
type leaf struct {
	// name is what `renew` takes and the tables show: kubeadm's name, the
	// kubeconfig's file name for a certificate embedded in one.
	name string
	// longName is kubeadm's description, printed by `renew`.
	longName string
	// baseName is its pair under the cert dir, without .crt and .key.
	baseName string
	ca       authority
	// kubeconfig is the file under the kubeconfig dir that embeds the
	// pair as its current user's credentials; empty for a pki pair only.
	kubeconfig string
}

// leaves are the certificates Coracle's apiserver makes, sorted by name as
// kubeadm lists them. kube-proxy.conf has no kubeadm counterpart (kubeadm
// runs kube-proxy with a ServiceAccount); kubeadm's front-proxy,
// etcd-healthcheck-client and super-admin.conf have none here.
var leaves = []leaf{
	{name: "admin.conf", longName: "certificate embedded in the kubeconfig file for the admin to use and for ctl itself", baseName: "admin", ca: clusterCA, kubeconfig: "admin.conf"},
	{name: "apiserver", longName: "certificate for serving the Kubernetes API", baseName: "apiserver", ca: clusterCA},
	{name: "apiserver-etcd-client", longName: "certificate the apiserver uses to access etcd", baseName: "apiserver-etcd-client", ca: etcdCA},
	{name: "apiserver-kubelet-client", longName: "certificate for the API server to connect to kubelet", baseName: "apiserver-kubelet-client", ca: clusterCA},
	{name: "controller-manager.conf", longName: "certificate embedded in the kubeconfig file for the controller manager to use", baseName: "controller-manager", ca: clusterCA, kubeconfig: "controller-manager.conf"},
	{name: "etcd-peer", longName: "certificate for etcd nodes to communicate with each other", baseName: "etcd/peer", ca: etcdCA},
	{name: "etcd-server", longName: "certificate for serving etcd", baseName: "etcd/server", ca: etcdCA},
	{name: "kube-proxy.conf", longName: "certificate embedded in the kubeconfig file for kube-proxy to use", baseName: "kube-proxy", ca: clusterCA, kubeconfig: "kube-proxy.conf"},
	{name: "scheduler.conf", longName: "certificate embedded in the kubeconfig file for the scheduler manager to use", baseName: "scheduler", ca: clusterCA, kubeconfig: "scheduler.conf"},
}

// New is the certs command. kubeadm's alias "certificates" is left out:
// beside kubectl's `certificate approve|deny` it would only mislead.
func New(env *cmdenv.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Commands related to handling Kubernetes certificates",
		Long: `Commands related to handling the certificates of the control plane: the ones the apiserver keeps
in its certificate directory and the client certificates embedded in the kubeconfig files it writes.`,
		Example: helptext.Examples(`
# Show when each control plane certificate expires
ctl certs check-expiration

# Renew them all, then restart the control plane
ctl certs renew all`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return fmt.Errorf("missing subcommand; %q is not meant to be run on its own", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newCheckExpiration(env), newRenew(env))
	return cmd
}

// dirs are where a command looks: the cert dir and the kubeconfig dir.
type dirs struct {
	cert, kubeconfig string
}

func defaultDirs() *dirs {
	return &dirs{cert: DefaultCertDir, kubeconfig: DefaultKubeconfigDir}
}

func (d *dirs) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&d.cert, "cert-dir", d.cert, "The path where to save the certificates")
	fs.StringVar(&d.kubeconfig, "kubeconfig-dir", d.kubeconfig, "The path where the kubeconfig files (admin.conf, scheduler.conf, controller-manager.conf, kube-proxy.conf) are")
}

// leaves are the certificates this control plane should have. Only the
// embedded etcd has an etcd directory in the PKI: an apiserver on an
// external etcd (--etcd-servers) is given that cluster's certificates by
// flags, so, as kubeadm does with an external etcd, the etcd CA and the
// certificates it signs are not this PKI's to check or renew.
func (d *dirs) leaves() ([]leaf, error) {
	embedded, err := d.embeddedEtcd()
	if err != nil {
		return nil, err
	}
	var out []leaf
	for _, l := range leaves {
		if l.ca == etcdCA && !embedded {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// authorities are the CAs this control plane should have, sorted by name.
func (d *dirs) authorities() ([]authority, error) {
	embedded, err := d.embeddedEtcd()
	if err != nil {
		return nil, err
	}
	if !embedded {
		return []authority{clusterCA}, nil
	}
	return []authority{clusterCA, etcdCA}, nil
}

func (d *dirs) embeddedEtcd() (bool, error) {
	fi, err := os.Stat(filepath.Join(d.cert, "etcd"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return fi.IsDir(), nil
}

func (d *dirs) certPath(baseName string) string {
	return filepath.Join(d.cert, baseName+".crt")
}

func (d *dirs) keyPath(baseName string) string {
	return filepath.Join(d.cert, baseName+".key")
}

func (d *dirs) kubeconfigPath(l leaf) string {
	return filepath.Join(d.kubeconfig, l.kubeconfig)
}

// exists reports whether l is anywhere to be read: its kubeconfig or its
// pki certificate.
func (d *dirs) exists(l leaf) (bool, error) {
	if l.kubeconfig != "" {
		ok, err := fileExists(d.kubeconfigPath(l))
		if ok || err != nil {
			return ok, err
		}
	}
	return fileExists(d.certPath(l.baseName))
}

// read returns l's certificate as the cluster uses it: the client
// certificate its kubeconfig embeds, with that kubeconfig, or else the
// pki certificate (and a nil kubeconfig).
func (d *dirs) read(l leaf) (*x509.Certificate, *clientcmdapi.Config, error) {
	if l.kubeconfig != "" {
		ok, err := fileExists(d.kubeconfigPath(l))
		if err != nil {
			return nil, nil, err
		}
		if ok {
			return readKubeconfig(d.kubeconfigPath(l))
		}
	}
	cert, err := readCert(d.certPath(l.baseName))
	if err != nil {
		return nil, nil, fmt.Errorf("failed to load existing certificate %s: %w", l.baseName, err)
	}
	return cert, nil, nil
}

// readKubeconfig returns the client certificate the kubeconfig at path
// embeds for its current context, and the kubeconfig, refusing one that
// does not embed both it and the cluster's CA, as kubeadm does.
func readKubeconfig(path string) (*x509.Certificate, *clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to load kubeConfig file %s: %w", path, err)
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, nil, fmt.Errorf("invalid kubeConfig file %s: missing context %s", path, cfg.CurrentContext)
	}
	cluster, ok := cfg.Clusters[kctx.Cluster]
	if !ok {
		return nil, nil, fmt.Errorf("invalid kubeConfig file %s: missing cluster %s", path, kctx.Cluster)
	}
	if len(cluster.CertificateAuthorityData) == 0 {
		return nil, nil, fmt.Errorf("kubeConfig file %s does not have an embedded server certificate", path)
	}
	user, ok := cfg.AuthInfos[kctx.AuthInfo]
	if !ok {
		return nil, nil, fmt.Errorf("invalid kubeConfig file %s: missing authInfo %s", path, kctx.AuthInfo)
	}
	if len(user.ClientCertificateData) == 0 {
		return nil, nil, fmt.Errorf("kubeConfig file %s does not have an embedded client certificate", path)
	}
	certs, err := certutil.ParseCertsPEM(user.ClientCertificateData)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeConfig file %s does not contain a valid client certificate: %w", path, err)
	}
	// The sender's own certificate comes first in a chain (RFC 4346 7.4.2).
	return certs[0], cfg, nil
}

// externallyManaged reports whether a's certificate is there without its
// key: kubeadm's external CA, whose certificates someone else renews.
func (d *dirs) externallyManaged(a authority) (bool, error) {
	ok, err := fileExists(d.certPath(a.baseName))
	if !ok || err != nil {
		return false, err
	}
	keyOK, err := fileExists(d.keyPath(a.baseName))
	return !keyOK, err
}

// loadCA reads a's certificate and key, the signer of a renewal.
func (d *dirs) loadCA(a authority) (*pki.KeyPair, error) {
	crt, err := fileExists(d.certPath(a.baseName))
	if err != nil {
		return nil, err
	}
	key, err := fileExists(d.keyPath(a.baseName))
	if err != nil {
		return nil, err
	}
	if !crt && !key {
		return nil, fmt.Errorf("couldn't load %s certificate authority from %s", a.baseName, d.cert)
	}
	dir, name := filepath.Split(filepath.Join(d.cert, a.baseName))
	ca, err := pki.Load(dir, name)
	if err != nil {
		return nil, fmt.Errorf("failure loading %s certificate authority: %w", a.baseName, err)
	}
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("%s certificate is not a certificate authority", a.baseName)
	}
	return ca, nil
}

// readCert returns the first certificate of the PEM file at path.
func readCert(path string) (*x509.Certificate, error) {
	certs, err := certutil.CertsFromFile(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// fileExists reports whether path is a file; a directory is not.
func fileExists(path string) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return !fi.IsDir(), nil
}
