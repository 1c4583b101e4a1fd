// Package certificate is `ctl certificate approve|deny`: kubectl's
// pkg/cmd/certificates. A decision is a condition (Approved or Denied)
// added to a CertificateSigningRequest through its approval subresource;
// the signer then issues the certificate, or not. A decision once made is
// never flipped: approving a denied request (or the reverse) is refused,
// --force or not, and --force only sends an approval that is already
// there again.
package certificate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/printers"
	"coracle.dev/ctl/internal/resource"
)

// conflictRetries is how often a decision is retried on a write conflict
// with a fresh read, as kubectl retries it.
const conflictRetries = 10

// New is the certificate command.
func New(env *cmdenv.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "certificate SUBCOMMAND",
		DisableFlagsInUseLine: true,
		Short:                 "Modify certificate resources",
		Long:                  "Modify certificate resources.",
		Example: helptext.Examples(`
# Approve CSR 'csr-sqgzp'
ctl certificate approve csr-sqgzp

# Deny CSR 'csr-sqgzp'
ctl certificate deny csr-sqgzp`),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDecision(env, approve), newDecision(env, deny))
	return cmd
}

// decision is one of the two verbs.
type decision struct {
	verb      string // approve, deny
	done      string // approved, denied: what is printed
	condition certificatesv1.RequestConditionType
	opposite  certificatesv1.RequestConditionType
	reason    string
	message   string
	short     string
	long      string
	example   string
}

var approve = decision{
	verb: "approve", done: "approved",
	condition: certificatesv1.CertificateApproved, opposite: certificatesv1.CertificateDenied,
	reason: "KubectlApprove", message: "This CSR was approved by kubectl certificate approve.",
	short: "Approve a certificate signing request",
	long: `Approve a certificate signing request.

ctl certificate approve allows a cluster admin to approve a certificate
signing request (CSR). This action tells a certificate signing controller to
issue a certificate to the requester with the attributes requested in the CSR.

SECURITY NOTICE: Depending on the requested attributes, the issued certificate
can potentially grant a requester access to cluster resources or to authenticate
as a requested identity. Before approving a CSR, ensure you understand what the
signed certificate can do.`,
	example: `
# Approve CSR 'csr-sqgzp'
ctl certificate approve csr-sqgzp`,
}

var deny = decision{
	verb: "deny", done: "denied",
	condition: certificatesv1.CertificateDenied, opposite: certificatesv1.CertificateApproved,
	reason: "KubectlDeny", message: "This CSR was denied by kubectl certificate deny.",
	short: "Deny a certificate signing request",
	long: `Deny a certificate signing request.

ctl certificate deny allows a cluster admin to deny a certificate
signing request (CSR). This action tells a certificate signing controller to
not to issue a certificate to the requester.`,
	example: `
# Deny CSR 'csr-sqgzp'
ctl certificate deny csr-sqgzp`,
}

func newDecision(env *cmdenv.Env, d decision) *cobra.Command {
	var files objects.Files
	var force bool
	var output string
	cmd := &cobra.Command{
		Use:                   d.verb + " (-f FILENAME | NAME)",
		DisableFlagsInUseLine: true,
		Short:                 d.short,
		Long:                  d.long,
		Example:               helptext.Examples(d.example),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && len(files.Filenames) == 0 {
				return errors.New("one or more CSRs must be specified as <name> or -f <filename>")
			}
			return run(cmd.Context(), env, d, args, &files, force, output)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "Update the CSR even if it is already "+d.done+".")
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (json, yaml, name).")
	files.Add(cmd, "identifying the resource to update")
	return cmd
}

// run decides on each CSR named, going on past the ones that fail and
// returning their errors together, as kubectl's ContinueOnError builder.
func run(ctx context.Context, env *cmdenv.Env, d decision, names []string, files *objects.Files, force bool, output string) error {
	var printer printers.Printer
	if output != "" {
		f, err := printers.ParseFormat(output)
		if err == nil && (f.Name == "yaml" || f.Name == "json" || f.Name == "name") {
			printer, err = printers.NewObject(f, false)
		} else if err == nil {
			err = fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", output)
		}
		if err != nil {
			return err
		}
	}
	typed, err := env.Typed()
	if err != nil {
		return err
	}
	sel := objects.Selection{Files: files}
	if len(names) > 0 {
		sel.Args = append([]string{"certificatesigningrequests"}, names...)
	}
	infos, err := objects.Select(ctx, env, sel)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	found := 0
	for _, info := range infos {
		if err := decide(ctx, typed, d, info, force, env.Now); err != nil {
			errs = append(errs, err)
			continue
		}
		found++
		switch {
		case printer != nil:
			if err := printer.PrintObj(info.Object, env.Out); err != nil {
				errs = append(errs, err)
			}
		default:
			fmt.Fprintf(env.Out, "%s %s\n", info.Ref(), d.done)
		}
	}
	if found == 0 && len(errs) == 0 {
		fmt.Fprintln(env.Out, "No resources found")
	}
	return utilerrors.NewAggregate(errs)
}

// decide adds the decision's condition to one CSR unless it is there (or,
// with force, sends it again), refusing to flip the opposite decision.
func decide(ctx context.Context, typed kubernetes.Interface, d decision, info *resource.Info, force bool, now func() time.Time) error {
	gk := info.Mapping.GroupVersionKind.GroupKind()
	if want := certificatesv1.Kind("CertificateSigningRequest"); gk != want {
		return fmt.Errorf("can only handle %s objects, got %s", want.String(), gk.String())
	}
	csrs := typed.CertificatesV1().CertificateSigningRequests()
	for i := 0; ; i++ {
		csr, err := csrs.Get(ctx, info.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("could not find v1 version of %s: %v", info.Name, err)
		}
		if err != nil {
			return err
		}
		present, err := addCondition(csr, d, metav1.NewTime(now()))
		if err != nil {
			return err
		}
		if present && !force {
			return nil
		}
		_, err = csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && i < conflictRetries {
			continue
		}
		return err
	}
}

// addCondition adds d's condition to csr; present says it was there
// already. The opposite decision is an error.
func addCondition(csr *certificatesv1.CertificateSigningRequest, d decision, now metav1.Time) (present bool, err error) {
	for _, c := range csr.Status.Conditions {
		if c.Type == d.opposite {
			return false, fmt.Errorf("certificate signing request %q is already %s", csr.Name, c.Type)
		}
		if c.Type == d.condition {
			present = true
		}
	}
	if present {
		return true, nil
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:           d.condition,
		Status:         corev1.ConditionTrue,
		Reason:         d.reason,
		Message:        d.message,
		LastUpdateTime: now,
	})
	return false, nil
}
