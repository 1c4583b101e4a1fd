// Package describe is `ctl describe`: a readable account of each object
// named, its related objects and its events (the text itself is written
// by the describe package beside cmd/).
package describe

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/dynamic"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/complete"
	"coracle.dev/ctl/internal/describe"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/printers"
	"coracle.dev/ctl/internal/resource"
)

type describeOptions struct {
	env           *cmdenv.Env
	files         objects.Files
	labels        string
	allNamespaces bool
}

// New is the describe command.
func New(env *cmdenv.Env) *cobra.Command {
	o := &describeOptions{env: env}
	cmd := &cobra.Command{
		Use:   "describe (-f FILENAME | TYPE [NAME_PREFIX | -l label] | TYPE/NAME)",
		Short: "Show details of a specific resource or group of resources",
		Long: `Show details of a specific resource or group of resources.

Print a detailed description of the selected resources, including related
resources such as events or controllers. You may select a single object by
name, all objects of that type, objects whose name starts with a prefix, or
objects with a label. The description ends with the object's events: start
here when something does not come up.`,
		Example: helptext.Examples(`
# Describe a node
ctl describe nodes node-1

# Describe a pod
ctl describe pods/web-1

# Describe pods by label name=myLabel
ctl describe pods -l name=myLabel

# Describe all pods whose name starts with "web"
ctl describe pods web

# Describe the deployment of a failed rollout
ctl describe deploy web`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd, args)
		},
		ValidArgsFunction: complete.Resources(env),
	}
	o.files.Add(cmd, "containing the resource to describe")
	cmd.Flags().StringVarP(&o.labels, "selector", "l", "", "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2).")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces.")
	return cmd
}

func (o *describeOptions) run(ctx context.Context, cmd *cobra.Command, args []string) error {
	if len(args) == 0 && len(o.files.Filenames) == 0 {
		fmt.Fprint(o.env.ErrOut, "You must specify the type of resource to describe. Use \"ctl api-resources\" for a complete list of supported resources.\n\n")
		return cmderr.Usage(cmd.CommandPath(), "Required resource not specified.")
	}
	oc, err := o.env.ObjectClients()
	if err != nil {
		return err
	}
	ns, explicit, r, dyn := oc.Namespace, oc.Explicit, oc.Resolver, oc.Dynamic
	typed, err := o.env.Typed()
	if err != nil {
		return err
	}
	sel := resource.Selector{Namespace: ns, AllNamespaces: o.allNamespaces, Labels: o.labels}
	var objs []*unstructured.Unstructured
	var errs []error
	if len(o.files.Filenames) > 0 {
		infos, err := objects.Read(o.env, r, &o.files, ns, explicit)
		if err != nil {
			return err
		}
		found, ferrs := objects.Fetch(ctx, dyn, infos)
		for _, info := range found {
			objs = append(objs, info.Object)
		}
		errs = append(errs, ferrs...)
	} else {
		targets, err := r.ParseArgs(args)
		if err != nil {
			return err
		}
		for _, t := range targets {
			found, terrs := collect(ctx, dyn, t, sel)
			objs = append(objs, found...)
			errs = append(errs, terrs...)
		}
		if len(objs) == 0 && len(errs) == 0 {
			fmt.Fprintln(o.env.ErrOut, printers.NoResources(ns, o.allNamespaces, resource.AnyNamespaced(targets)))
			return nil
		}
	}
	f := &describe.Fetcher{Client: typed, Now: o.env.Now}
	for i, obj := range objs {
		if i > 0 {
			fmt.Fprint(o.env.Out, "\n\n")
		}
		if err := f.Describe(ctx, o.env.Out, obj); err != nil {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// collect reads the objects one target names. A name that is not found
// stands for every object whose name starts with it, as with kubectl.
func collect(ctx context.Context, dyn dynamic.Interface, t resource.Target, sel resource.Selector) ([]*unstructured.Unstructured, []error) {
	client := resource.ClientFor(dyn, t.Mapping, sel.NamespaceFor(t.Mapping))
	if len(t.Names) == 0 {
		items, err := resource.List(ctx, client, sel.Labels, "")
		if err != nil {
			return nil, []error{err}
		}
		return pointers(items), nil
	}
	var out []*unstructured.Unstructured
	var errs []error
	for _, name := range t.Names {
		obj, err := client.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			out = append(out, obj)
			continue
		}
		if !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		items, lerr := resource.List(ctx, client, sel.Labels, "")
		if lerr != nil {
			errs = append(errs, lerr)
			continue
		}
		var matched []*unstructured.Unstructured
		for _, it := range pointers(items) {
			if strings.HasPrefix(it.GetName(), name) {
				matched = append(matched, it)
			}
		}
		if len(matched) == 0 {
			errs = append(errs, err)
		}
		out = append(out, matched...)
	}
	return out, errs
}

func pointers(items []unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
