// Package apply is `ctl apply`: each object of the -f sources is created,
// or patched three ways against the configuration applied last time (the
// merge itself is the apply package beside cmd/).
package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"coracle.dev/ctl/internal/apply"
	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/dryrun"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/printers"
)

type applyOptions struct {
	env    *cmdenv.Env
	files  objects.Files
	output string
	dryRun string
}

// New is the apply command.
func New(env *cmdenv.Env) *cobra.Command {
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
		Example: helptext.Examples(`
# Apply the configuration in web.yaml
ctl apply -f ./web.yaml

# Apply every manifest under a directory, recursively
ctl apply -R -f ./manifests/

# Apply the JSON passed into stdin
cat pod.json | ctl apply -f -`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.files.Filenames) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "must specify one of -f and -k")
			}
			if ss, _ := cmd.Flags().GetBool("server-side"); ss {
				return fmt.Errorf("--server-side: server-side apply is not served by Coracle's apiserver; drop the flag to apply in the client")
			}
			return o.run(cmd.Context())
		},
	}
	o.files.Add(cmd, "that contains the configuration to apply")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name, jsonpath=..., custom-columns=...).")
	dryrun.AddFlag(cmd, &o.dryRun)
	cmd.Flags().Bool("server-side", false, "Refused: Coracle's apiserver does not serve server-side apply; ctl applies in the client.")
	return cmd
}

func (o *applyOptions) run(ctx context.Context) error {
	mode, err := dryrun.Mode(o.dryRun)
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
	oc, err := o.env.ObjectClients()
	if err != nil {
		return err
	}
	ns, explicit, r, dyn := oc.Namespace, oc.Explicit, oc.Resolver, oc.Dynamic
	items, err := objects.Load(o.env, r, &o.files, ns, explicit)
	if err != nil {
		return err
	}
	var errs []error
	var outputs []*unstructured.Unstructured
	for _, it := range items {
		if it.Err != nil {
			errs = append(errs, it.Err)
			continue
		}
		info := it.Info
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
		fmt.Fprintf(o.env.Out, "%s %s%s\n", info.Ref(), result, dryrun.Suffix(mode))
	}
	if objPrinter != nil && len(outputs) > 0 {
		if err := printers.PrintObjects(objPrinter, outputs, len(items) == 1, o.env.Out); err != nil {
			return err
		}
	}
	return utilerrors.NewAggregate(errs)
}
