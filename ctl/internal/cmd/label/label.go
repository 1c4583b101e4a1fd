// Package label is `ctl label` and `ctl annotate`: one command on two
// maps of an object's metadata, setting (KEY=VALUE), removing (KEY-) or
// listing keys.
package label

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/complete"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
)

// metaEdit is label or annotate: the same command on two maps.
type metaEdit struct {
	env       *cmdenv.Env
	field     string // "labels" or "annotations"
	verb      string // "labeled" or "annotated"
	files     objects.Files
	overwrite bool
	labels    string
	all       bool
	list      bool
	output    string
}

// NewLabel is the label command.
func NewLabel(env *cmdenv.Env) *cobra.Command {
	return newMetaEdit(env, "labels", "labeled", "label", "Update the labels on a resource", helptext.Examples(`
# Update pod 'foo' with the label 'unhealthy' and the value 'true'
ctl label pods foo unhealthy=true

# Update pod 'foo' with the label 'status' and the value 'unhealthy', overwriting any existing value
ctl label --overwrite pods foo status=unhealthy

# Update all pods in the namespace
ctl label pods --all status=unhealthy

# Remove a label named 'bar' if it exists
ctl label pods foo bar-`))
}

// NewAnnotate is the annotate command.
func NewAnnotate(env *cmdenv.Env) *cobra.Command {
	return newMetaEdit(env, "annotations", "annotated", "annotate", "Update the annotations on a resource", helptext.Examples(`
# Update pod 'foo' with the annotation 'description' and the value 'my frontend'
ctl annotate pods foo description='my frontend'

# Overwrite an existing value
ctl annotate --overwrite pods foo description='my frontend running nginx'

# Annotate every pod with the label app=web
ctl annotate pods -l app=web owner=team-a

# Remove an annotation named 'description' if it exists
ctl annotate pods foo description-`))
}

func newMetaEdit(env *cmdenv.Env, field, verb, use, short, example string) *cobra.Command {
	o := &metaEdit{env: env, field: field, verb: verb}
	cmd := &cobra.Command{
		Use:     use + " [--overwrite] (-f FILENAME | TYPE NAME) KEY_1=VAL_1 ... KEY_N=VAL_N",
		Short:   short,
		Long:    short + ".\n\nA key=value pair sets a key; key- removes it. An existing key keeps its value unless --overwrite is given.",
		Example: example,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd, args)
		},
		ValidArgsFunction: complete.Resources(env),
	}
	o.files.Add(cmd, "identifying the resource to update")
	cmd.Flags().BoolVar(&o.overwrite, "overwrite", false, "If true, allow "+field+" to be overwritten, otherwise reject updates that overwrite existing "+field+".")
	cmd.Flags().StringVarP(&o.labels, "selector", "l", "", "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.")
	cmd.Flags().BoolVar(&o.all, "all", false, "Select all resources, in the namespace of the specified resource types")
	cmd.Flags().BoolVar(&o.list, "list", false, "If true, display the "+field+" for a given resource.")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format. Only 'name' is supported here.")
	return cmd
}

// parseChanges splits KEY=VALUE and KEY- arguments from resource ones.
func parseChanges(args []string, field string) (resources []string, set map[string]string, remove []string, err error) {
	set = map[string]string{}
	for _, a := range args {
		switch {
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return nil, nil, nil, fmt.Errorf("invalid %s format: %s", strings.TrimSuffix(field, "s"), a)
			}
			if field == "labels" {
				if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
					return nil, nil, nil, fmt.Errorf("invalid label value: %q: %s", a, strings.Join(errs, "; "))
				}
			}
			set[k] = v
		case strings.HasSuffix(a, "-") && len(resources) > 0:
			remove = append(remove, strings.TrimSuffix(a, "-"))
		default:
			if len(set) > 0 || len(remove) > 0 {
				return nil, nil, nil, fmt.Errorf("all resources must be specified before %s changes: %s", strings.TrimSuffix(field, "s"), a)
			}
			resources = append(resources, a)
		}
	}
	return resources, set, remove, nil
}

func (o *metaEdit) run(ctx context.Context, cmd *cobra.Command, args []string) error {
	resources, set, remove, err := parseChanges(args, o.field)
	if err != nil {
		return err
	}
	if len(set) == 0 && len(remove) == 0 && !o.list {
		return cmderr.Usage(cmd.CommandPath(), "at least one %s update is required", strings.TrimSuffix(o.field, "s"))
	}
	infos, err := objects.Select(ctx, o.env, objects.Selection{Args: resources, Files: &o.files, Labels: o.labels, All: o.all})
	if err != nil && len(infos) == 0 {
		return err
	}
	errs := []error{}
	if err != nil {
		errs = append(errs, err)
	}
	for _, info := range infos {
		current := info.Object.GetLabels()
		if o.field == "annotations" {
			current = info.Object.GetAnnotations()
		}
		if o.list {
			keys := make([]string, 0, len(current))
			for k := range current {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(o.env.Out, "%s=%s\n", k, current[k])
			}
			continue
		}
		changes := map[string]any{}
		for k, v := range set {
			old, exists := current[k]
			if exists && old != v && !o.overwrite {
				errs = append(errs, fmt.Errorf("'%s' already has a value (%s), and --overwrite is false", k, old))
				changes = nil
				break
			}
			if !exists || old != v {
				changes[k] = v
			}
		}
		if changes == nil {
			continue
		}
		for _, k := range remove {
			if _, ok := current[k]; ok {
				changes[k] = nil
			}
		}
		verb := o.verb
		if len(changes) == 0 {
			verb = "not " + o.verb
		} else {
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{o.field: changes}})
			if err := objects.Patch(ctx, o.env, info, types.MergePatchType, patch); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if o.output == "name" {
			fmt.Fprintln(o.env.Out, info.Ref())
			continue
		}
		fmt.Fprintf(o.env.Out, "%s %s\n", info.Ref(), verb)
	}
	return utilerrors.NewAggregate(errs)
}
