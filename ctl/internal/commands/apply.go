package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"coracle.dev/ctl/internal/apply"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/printers"
)

type applyOptions struct {
	env    *Env
	files  fileFlags
	output string
	dryRun string
}

func newApply(env *Env) *cobra.Command {
	o := &applyOptions{env: env}
	cmd := &cobra.Command{
		Use:   "apply (-f FILENAME | -R -f DIRECTORY)",
		Short: "Apply a configuration to a resource by file name or stdin",
		Long: `Apply a configuration to a resource by file name or stdin.

The resource is created if it does not exist yet. Otherwise the change
between the configuration applied last time (kept in the
kubectl.kubernetes.io/last-applied-configuration annotation), the new one and
the live object is sent as a three-way patch, so fields others set are kept.
JSON and YAML formats are accepted, several documents per file; a document
that fails is named and the others are still applied.`,
		Example: examples(`
# Apply the configuration in web.yaml
ctl apply -f ./web.yaml

# Apply every manifest under a directory, recursively
ctl apply -R -f ./manifests/

# Apply the JSON passed into stdin
cat pod.json | ctl apply -f -`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.files.filenames) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "must specify one of -f and -k")
			}
			if ss, _ := cmd.Flags().GetBool("server-side"); ss {
				return fmt.Errorf("--server-side: server-side apply is not served by Coracle's apiserver; drop the flag to apply in the client")
			}
			return o.run(cmd.Context())
		},
	}
	o.files.add(cmd, "that contains the configuration to apply")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name, jsonpath=..., custom-columns=...).")
	addDryRun(cmd, &o.dryRun)
	cmd.Flags().Bool("server-side", false, "Refused: Coracle's apiserver does not serve server-side apply; ctl applies in the client.")
	return cmd
}

func addDryRun(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "dry-run", "none", `Must be "none", "server", or "client". If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "unchanged"
}

// dryRunMode validates --dry-run and returns "", "client" or "server".
func dryRunMode(v string) (string, error) {
	switch v {
	case "", "none", "false":
		return "", nil
	case "client", "server":
		return v, nil
	case "unchanged", "true":
		return "", fmt.Errorf(`--dry-run must be specified as "none", "server", or "client"`)
	}
	return "", fmt.Errorf(`Invalid dry-run value (%v). Must be "none", "server", or "client".`, v)
}

func dryRunSuffix(mode string) string {
	if mode == "" {
		return ""
	}
	return " (" + mode + " dry run)"
}

func (o *applyOptions) run(ctx context.Context) error {
	mode, err := dryRunMode(o.dryRun)
	if err != nil {
		return err
	}
	var objPrinter printers.Printer
	if o.output != "" {
		f, err := printers.ParseFormat(o.output)
		if err != nil {
			return err
		}
		if objPrinter, err = printers.NewObject(f, false); err != nil {
			return err
		}
	}
	ns, explicit, err := o.env.namespace()
	if err != nil {
		return err
	}
	r, err := o.env.resolver()
	if err != nil {
		return err
	}
	dyn, err := o.env.dynamic()
	if err != nil {
		return err
	}
	items, err := loadManifests(o.env, r, o.files.filenames, o.files.recursive, ns, explicit)
	if err != nil {
		return err
	}
	var errs []error
	var outputs []*unstructured.Unstructured
	for _, it := range items {
		if it.err != nil {
			errs = append(errs, it.err)
			continue
		}
		info := it.info
		if info.Name == "" {
			errs = append(errs, fmt.Errorf("error when retrieving current configuration of %s from %q: resource name may not be empty", info.Mapping.GroupVersionKind.Kind, info.Source))
			continue
		}
		warn := func(s string) { fmt.Fprintln(o.env.ErrOut, s) }
		result, out, err := apply.Apply(ctx, info.Client(dyn), info.Ref(), info.Object, apply.Options{DryRun: mode, Warn: warn})
		if err != nil {
			var op *apply.OpError
			if errors.As(err, &op) {
				err = cmderr.WithSource(op.Op, info.Source, op.Err)
			}
			errs = append(errs, err)
			continue
		}
		if objPrinter != nil {
			outputs = append(outputs, out)
			continue
		}
		fmt.Fprintf(o.env.Out, "%s %s%s\n", info.Ref(), result, dryRunSuffix(mode))
	}
	if objPrinter != nil && len(outputs) > 0 {
		if err := printers.PrintObjects(objPrinter, outputs, len(items) == 1, o.env.Out); err != nil {
			return err
		}
	}
	return utilerrors.NewAggregate(errs)
}
