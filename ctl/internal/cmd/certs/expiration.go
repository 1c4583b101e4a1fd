package certs

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/helptext"
)

// expirationInfo is kubeadm's output.kubeadm.k8s.io/v1alpha3
// CertificateExpirationInfo, what `check-expiration -o json|yaml` prints.
type expirationInfo struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	// Certificates are the leaf certificates, by name.
	Certificates []certificateInfo `json:"certificates"`
	// CertificateAuthorities are the CAs that sign them, by name.
	CertificateAuthorities []certificateInfo `json:"certificateAuthorities"`
}

// certificateInfo is kubeadm's output Certificate: one row of the tables.
type certificateInfo struct {
	Name string `json:"name"`
	// ExpirationDate is the certificate's NotAfter; zero when missing.
	ExpirationDate metav1.Time `json:"expirationDate"`
	// ResidualTimeSeconds is the time left until ExpirationDate.
	ResidualTimeSeconds int64 `json:"residualTime"`
	// ExternallyManaged says that the signing CA's key is not here, so
	// the certificate cannot be renewed here.
	ExternallyManaged bool `json:"externallyManaged"`
	// CAName names the signer; empty for a CA.
	CAName  string `json:"caName,omitempty"`
	Missing bool   `json:"missing"`
}

func newCheckExpiration(env *cmdenv.Env) *cobra.Command {
	d := defaultDirs()
	var output string
	cmd := &cobra.Command{
		Use:   "check-expiration",
		Short: "Check certificates expiration for a Kubernetes cluster",
		Long:  "Checks expiration for the certificates in the local PKI managed by the apiserver.",
		Example: helptext.Examples(`
# Check the certificates of a control plane installed from deploy/
ctl certs check-expiration

# Check those of another data directory, as JSON
ctl certs check-expiration --cert-dir /tmp/coracle/apiserver/pki --kubeconfig-dir /tmp/coracle -o json`),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			switch output {
			case "text", "json", "yaml":
			default:
				return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,text,yaml", output)
			}
			info, err := d.expiration(env.Now())
			if err != nil {
				return err
			}
			return printExpiration(env.Out, info, output)
		},
	}
	d.addFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format. One of: text|json|yaml.")
	return cmd
}

// expiration reads every certificate and CA of the PKI and says, as of
// now, when each expires.
func (d *dirs) expiration(now time.Time) (*expirationInfo, error) {
	info := &expirationInfo{Kind: "CertificateExpirationInfo", APIVersion: "output.kubeadm.k8s.io/v1alpha3"}
	ls, err := d.leaves()
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		ok, err := d.exists(l)
		if err != nil {
			return nil, err
		}
		if !ok {
			info.Certificates = append(info.Certificates, certificateInfo{Name: l.name, Missing: true})
			continue
		}
		external, err := d.externallyManaged(l.ca)
		if err != nil {
			return nil, err
		}
		cert, _, err := d.read(l)
		if err != nil {
			return nil, err
		}
		info.Certificates = append(info.Certificates, expiring(l.name, cert.NotAfter, now, l.ca.name, external))
	}
	cas, err := d.authorities()
	if err != nil {
		return nil, err
	}
	for _, a := range cas {
		ok, err := fileExists(d.certPath(a.baseName))
		if err != nil {
			return nil, err
		}
		if !ok {
			info.CertificateAuthorities = append(info.CertificateAuthorities, certificateInfo{Name: a.name, Missing: true})
			continue
		}
		external, err := d.externallyManaged(a)
		if err != nil {
			return nil, err
		}
		cert, err := readCert(d.certPath(a.baseName))
		if err != nil {
			return nil, fmt.Errorf("failed to load existing certificate %s: %w", a.baseName, err)
		}
		info.CertificateAuthorities = append(info.CertificateAuthorities, expiring(a.name, cert.NotAfter, now, "", external))
	}
	return info, nil
}

func expiring(name string, notAfter, now time.Time, caName string, external bool) certificateInfo {
	return certificateInfo{
		Name:                name,
		ExpirationDate:      metav1.NewTime(notAfter.UTC()),
		ResidualTimeSeconds: int64(notAfter.Sub(now) / time.Second),
		ExternallyManaged:   external,
		CAName:              caName,
	}
}

// printExpiration writes info as kubeadm does: two tables for text, the
// output API object for json (indented as kubectl's printer) and yaml.
func printExpiration(w io.Writer, info *expirationInfo, output string) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(info, "", "    ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "yaml":
		b, err := yaml.Marshal(info)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return printTables(w, info)
}

// printTables writes kubeadm's two tables: the certificates, then their
// authorities, with kubeadm's column padding, date format and residual
// time (kubectl's AGE style: 364d, 9y; <invalid> once expired).
func printTables(w io.Writer, info *expirationInfo) error {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	const dateFormat = "Jan 02, 2006 15:04 MST"
	residual := func(c certificateInfo) string {
		return duration.HumanDuration(time.Duration(c.ResidualTimeSeconds) * time.Second)
	}
	tw := tabwriter.NewWriter(w, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED")
	for _, c := range info.Certificates {
		if c.Missing {
			fmt.Fprintf(tw, "!MISSING! %s\t\t\t\t\n", c.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%-8v\n", c.Name, c.ExpirationDate.Format(dateFormat), residual(c), c.CAName, yesNo(c.ExternallyManaged))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED")
	for _, c := range info.CertificateAuthorities {
		if c.Missing {
			fmt.Fprintf(tw, "!MISSING! %s\t\t\t\n", c.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%-8v\n", c.Name, c.ExpirationDate.Format(dateFormat), residual(c), yesNo(c.ExternallyManaged))
	}
	return tw.Flush()
}
