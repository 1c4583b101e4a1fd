package certs

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/pki"
)

const renewLong = `Renew the %s.

Renewals run unconditionally, regardless of certificate expiration date; extra attributes such as SANs will
be based on the existing file/certificates, there is no need to resupply them.

Renewal uses the certificate authority in the local PKI managed by the apiserver (--cert-dir); a
certificate whose CA key is not there (an external CA) is not renewed.

After renewal, in order to make changes effective, is required to restart control-plane components and
eventually re-distribute the renewed certificate in case the file is used elsewhere.`

// restartReminder ends `renew all`, as kubeadm's: the programs read their
// certificates when they start.
const restartReminder = "Done renewing certificates. You must restart the coracle-apiserver (and with it its embedded etcd), coracle-controller-manager, coracle-scheduler and coracle-kube-proxy, so that they can use the new certificates."

// newRenew is `certs renew`: one subcommand per certificate, as kubeadm's,
// and all.
func newRenew(env *cmdenv.Env) *cobra.Command {
	d := defaultDirs()
	valid := []string{"all"}
	for _, l := range leaves {
		valid = append(valid, l.name)
	}
	cmd := &cobra.Command{
		Use:   "renew",
		Short: "Renew certificates for a Kubernetes cluster",
		Example: helptext.Examples(`
# Renew every certificate of the control plane
ctl certs renew all

# Renew the admin's client certificate, in pki/admin.crt and admin.conf
ctl certs renew admin.conf`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmderr.Usage(cmd.CommandPath(), "unknown command %q for %q; valid certificates are: %s", args[0], cmd.CommandPath(), strings.Join(valid, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return fmt.Errorf("missing subcommand; %q is not meant to be run on its own", cmd.CommandPath())
		},
	}
	for _, l := range leaves {
		sub := &cobra.Command{
			Use:     l.name,
			Short:   "Renew the " + l.longName,
			Long:    fmt.Sprintf(renewLong, l.longName),
			Example: helptext.Examples("ctl certs renew " + l.name),
			Args:    cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				msg, err := d.renew(l)
				if err != nil {
					return err
				}
				fmt.Fprintln(env.Out, msg)
				return nil
			},
		}
		d.addFlags(sub.Flags())
		cmd.AddCommand(sub)
	}
	all := &cobra.Command{
		Use:   "all",
		Short: "Renew all available certificates",
		Long: `Renew all known certificates necessary to run the control plane. Renewals are run unconditionally, regardless
of expiration date. Renewals can also be run individually for more control.`,
		Example: helptext.Examples(`
# Renew them all, then restart the control plane
ctl certs renew all
sudo systemctl restart coracle-apiserver coracle-controller-manager coracle-scheduler coracle-kube-proxy`),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ls, err := d.leaves()
			if err != nil {
				return err
			}
			for _, l := range ls {
				msg, err := d.renew(l)
				if err != nil {
					return err
				}
				fmt.Fprintln(env.Out, msg)
			}
			fmt.Fprintf(env.Out, "\n%s\n", restartReminder)
			return nil
		},
	}
	d.addFlags(all.Flags())
	cmd.AddCommand(all)
	return cmd
}

// renew issues l again with its CA and writes it where it lives: the pki
// pair and, for a .conf, the kubeconfig that embeds it. It returns
// kubeadm's line for the outcome: renewed, missing (nothing to renew from)
// or signed by an external CA.
func (d *dirs) renew(l leaf) (string, error) {
	ok, err := d.exists(l)
	if err != nil {
		return "", err
	}
	if !ok {
		return "MISSING! " + l.longName, nil
	}
	external, err := d.externallyManaged(l.ca)
	if err != nil {
		return "", err
	}
	if external {
		return fmt.Sprintf("Detected external %s, %s can't be renewed", l.ca.baseName, l.longName), nil
	}
	old, kc, err := d.read(l)
	if err != nil {
		return "", err
	}
	ca, err := d.loadCA(l.ca)
	if err != nil {
		return "", err
	}
	kp, err := reissue(ca, old)
	if err != nil {
		return "", fmt.Errorf("failed to renew certificate %s: %w", l.name, err)
	}
	// The pki pair first: the apiserver writes the kubeconfigs from it at
	// each start, so it must never hold the older certificate.
	dir, name := filepath.Split(filepath.Join(d.cert, l.baseName))
	if err := kp.Write(dir, name); err != nil {
		return "", fmt.Errorf("failed to write new certificate %s: %w", l.baseName, err)
	}
	if kc != nil {
		// The current context's user gets the new pair and its cluster
		// the CA on disk, as kubeadm's renewal does; the rest is kept.
		kctx := kc.Contexts[kc.CurrentContext]
		kc.Clusters[kctx.Cluster].CertificateAuthorityData = ca.CertPEM
		user := kc.AuthInfos[kctx.AuthInfo]
		user.ClientCertificateData = kp.CertPEM
		user.ClientKeyData = kp.KeyPEM
		if err := kubeconfig.WriteConfig(d.kubeconfigPath(l), *kc); err != nil {
			return "", fmt.Errorf("failed to write kubeConfig file %s: %w", d.kubeconfigPath(l), err)
		}
	}
	return l.longName + " renewed", nil
}

// reissue has ca sign a certificate like old for the default lifetime,
// with a new key: the same common name, organizations, DNS and IP SANs
// and extended key usages, as kubeadm's renewal keeps them.
func reissue(ca *pki.KeyPair, old *x509.Certificate) (*pki.KeyPair, error) {
	usage, err := usageOf(old)
	if err != nil {
		return nil, err
	}
	return ca.Issue(pki.Request{
		CommonName:   old.Subject.CommonName,
		Organization: old.Subject.Organization,
		DNSNames:     old.DNSNames,
		IPs:          old.IPAddresses,
		Usage:        usage,
	})
}

// usageOf maps a certificate's extended key usages to the ones pki
// issues, refusing others rather than renewing a certificate for a
// different purpose.
func usageOf(cert *x509.Certificate) (pki.Usage, error) {
	var server, client bool
	for _, u := range cert.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			server = true
		case x509.ExtKeyUsageClientAuth:
			client = true
		default:
			return 0, fmt.Errorf("certificate %q has an extended key usage other than server and client auth (%d)", cert.Subject.CommonName, u)
		}
	}
	switch {
	case server && client:
		return pki.ServerAndClientUsage, nil
	case server:
		return pki.ServerUsage, nil
	case client:
		return pki.ClientUsage, nil
	}
	return 0, fmt.Errorf("certificate %q is for neither server nor client auth", cert.Subject.CommonName)
}
