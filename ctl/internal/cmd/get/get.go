// Package get is `ctl get`: a table of the objects named, with the
// columns the server chooses, or the objects themselves under -o; with -w
// it follows their changes.
package get

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/watch"
	cliprinters "k8s.io/cli-runtime/pkg/printers"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/complete"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/printers"
	"coracle.dev/ctl/internal/resource"
)

type getOptions struct {
	env           *cmdenv.Env
	output        string
	labels        string
	fields        string
	allNamespaces bool
	showLabels    bool
	showKind      bool
	labelColumns  []string
	noHeaders     bool
	showManaged   bool
	sortBy        string
	watch         bool
	watchOnly     bool
	watchEvents   bool
	ignoreMissing bool
	// files are -f and -R, with get's own help and no file completion.
	files objects.Files
}

// New is the get command.
func New(env *cmdenv.Env) *cobra.Command {
	o := &getOptions{env: env}
	cmd := &cobra.Command{
		Use:   "get [(-o|--output=)json|yaml|name|wide|jsonpath=...|custom-columns=...] (TYPE[.VERSION][.GROUP] [NAME | -l label] | TYPE[.VERSION][.GROUP]/NAME ...) [flags]",
		Short: "Display one or many resources",
		Long: `Display one or many resources.

Prints a table of the most important information about the specified resources,
with the columns the server chooses. Filter with a label selector (-l) or a
field selector (--field-selector). Several types can be listed at once
(po,svc), "all" lists the common workloads, and short names work (po, deploy,
svc, no, ns, ...). Use "ctl api-resources" for the complete list.`,
		Example: helptext.Examples(`
# List all pods in ps output format
ctl get pods

# List all pods in ps output format with more information (such as node name)
ctl get pods -o wide

# List a single pod by name, and pods and services together
ctl get pod web-1
ctl get po,svc

# List pods with a label, in every namespace, showing their labels
ctl get pods -l app=web -A --show-labels

# Print a pod as YAML, or only its phase
ctl get pod web-1 -o yaml
ctl get pod web-1 -o jsonpath='{.status.phase}'

# Choose the columns
ctl get pods -o custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image

# Watch pods change
ctl get pods -w

# Everything in the namespace
ctl get all`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd, args)
		},
		ValidArgsFunction: complete.Resources(env),
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "Output format. One of: (json, yaml, name, wide, jsonpath=..., custom-columns=...).")
	f.StringVarP(&o.labels, "selector", "l", "", "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2). Matching objects must satisfy all of the specified label constraints.")
	f.StringVar(&o.fields, "field-selector", "", "Selector (field query) to filter on, supports '=', '==', and '!='.(e.g. --field-selector key1=value1,key2=value2). The server only supports a limited number of field queries per type.")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces. Namespace in current context is ignored even if specified with --namespace.")
	f.BoolVar(&o.showLabels, "show-labels", false, "When printing, show all labels as the last column (default hide labels column).")
	f.BoolVar(&o.showKind, "show-kind", false, "If present, list the resource type for the requested object(s).")
	f.StringSliceVarP(&o.labelColumns, "label-columns", "L", nil, "Accepts a comma separated list of labels that are going to be presented as columns.")
	f.BoolVar(&o.noHeaders, "no-headers", false, "When using the default or custom-column output format, don't print headers (default print headers).")
	f.BoolVar(&o.showManaged, "show-managed-fields", false, "If true, keep the managedFields when printing objects in JSON or YAML format.")
	f.StringVar(&o.sortBy, "sort-by", "", "If non-empty, sort list types using this field specification. The field specification is expressed as a JSONPath expression (e.g. '{.metadata.name}').")
	f.BoolVarP(&o.watch, "watch", "w", false, "After listing/getting the requested object, watch for changes.")
	f.BoolVar(&o.watchOnly, "watch-only", false, "Watch for changes to the requested object(s), without listing/getting first.")
	f.BoolVar(&o.watchEvents, "output-watch-events", false, "Output watch event objects when --watch or --watch-only is used. Existing objects are output as initial ADDED events.")
	f.BoolVar(&o.ignoreMissing, "ignore-not-found", false, "If set to true, suppress NotFound error for specific objects that do not exist.")
	f.StringSliceVarP(&o.files.Filenames, "filename", "f", nil, "Filename, directory, or URL to files identifying the resource to get from a server.")
	f.BoolVarP(&o.files.Recursive, "recursive", "R", false, "Process the directory used in -f, --filename recursively.")
	return cmd
}

func (o *getOptions) run(ctx context.Context, cmd *cobra.Command, args []string) error {
	format, err := printers.ParseFormat(o.output)
	format.ShowManagedFields = o.showManaged
	if err != nil {
		return err
	}
	if len(args) == 0 && len(o.files.Filenames) == 0 {
		fmt.Fprint(o.env.ErrOut, "You must specify the type of resource to get. Use \"ctl api-resources\" for a complete list of supported resources.\n\n")
		return cmderr.Usage(cmd.CommandPath(), "Required resource not specified.")
	}
	ns, _, err := o.env.Namespace()
	if err != nil {
		return err
	}
	r, err := o.env.Resolver()
	if err != nil {
		return err
	}
	var targets []resource.Target
	if len(o.files.Filenames) > 0 {
		targets, err = o.targetsFromFiles(r, ns)
	} else {
		targets, err = r.ParseArgs(args)
	}
	if err != nil {
		return err
	}
	sel := resource.Selector{Namespace: ns, AllNamespaces: o.allNamespaces, Labels: o.labels, Fields: o.fields}
	if o.watch || o.watchOnly {
		return o.runWatch(ctx, format, targets, sel)
	}
	withKind := o.showKind || len(targets) > 1 || (len(args) > 0 && (strings.Contains(args[0], ",") || args[0] == "all"))
	if format.IsTable() {
		return o.printTables(ctx, format, targets, sel, withKind)
	}
	return o.printObjects(ctx, format, targets, sel)
}

// targetsFromFiles names the objects of manifests, for get -f.
func (o *getOptions) targetsFromFiles(r *resource.Resolver, ns string) ([]resource.Target, error) {
	infos, err := objects.Read(o.env, r, &o.files, ns, false)
	if err != nil {
		return nil, err
	}
	var out []resource.Target
	for _, info := range infos {
		out = append(out, resource.Target{Mapping: info.Mapping, Names: []string{info.Name}})
	}
	return out, nil
}

func (o *getOptions) tableOptions(format printers.Format, kind schema.GroupKind) printers.TableOptions {
	return printers.TableOptions{
		Wide:          format.Name == "wide",
		NoHeaders:     o.noHeaders,
		WithNamespace: o.allNamespaces,
		ShowLabels:    o.showLabels,
		LabelColumns:  o.labelColumns,
		Kind:          kind,
	}
}

func (o *getOptions) readTable(ctx context.Context, raw *resource.Raw, t resource.Target, sel resource.Selector) (*metav1.Table, []error, error) {
	req := resource.TableRequest{Mapping: t.Mapping, Namespace: sel.NamespaceFor(t.Mapping), Labels: sel.Labels, Fields: sel.Fields, IncludeObject: o.sortBy != ""}
	if len(t.Names) == 0 {
		table, err := raw.Table(ctx, req)
		return table, nil, err
	}
	var table *metav1.Table
	var notFound []error
	for _, name := range t.Names {
		req.Name = name
		one, err := raw.Table(ctx, req)
		if apierrors.IsNotFound(err) {
			if !o.ignoreMissing {
				notFound = append(notFound, err)
			}
			continue
		}
		if err != nil {
			return nil, notFound, err
		}
		if table == nil {
			table = one
		} else {
			table.Rows = append(table.Rows, one.Rows...)
		}
	}
	return table, notFound, nil
}

func (o *getOptions) printTables(ctx context.Context, format printers.Format, targets []resource.Target, sel resource.Selector, withKind bool) error {
	raw, err := o.env.Raw()
	if err != nil {
		return err
	}
	var errs []error
	printed, named := false, false
	for _, t := range targets {
		named = named || len(t.Names) > 0
		table, notFound, err := o.readTable(ctx, raw, t, sel)
		errs = append(errs, notFound...)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if table == nil || len(table.Rows) == 0 {
			continue
		}
		if o.sortBy != "" {
			if err := printers.SortTable(table, o.sortBy); err != nil {
				return err
			}
		}
		var kind schema.GroupKind
		if withKind {
			kind = t.Mapping.GroupVersionKind.GroupKind()
		}
		if printed {
			fmt.Fprintln(o.env.Out)
		}
		if err := printers.NewTable(o.tableOptions(format, kind)).PrintObj(table, o.env.Out); err != nil {
			return err
		}
		printed = true
	}
	if !printed && !named && len(errs) == 0 {
		fmt.Fprintln(o.env.ErrOut, printers.NoResources(sel.Namespace, sel.AllNamespaces, resource.AnyNamespaced(targets)))
	}
	return utilerrors.NewAggregate(errs)
}

func (o *getOptions) printObjects(ctx context.Context, format printers.Format, targets []resource.Target, sel resource.Selector) error {
	dyn, err := o.env.Dynamic()
	if err != nil {
		return err
	}
	infos, errs := resource.Collect(ctx, dyn, targets, sel)
	if o.ignoreMissing {
		errs = dropNotFound(errs)
	}
	objs := make([]*unstructured.Unstructured, 0, len(infos))
	for _, i := range infos {
		objs = append(objs, i.Object)
	}
	if o.sortBy != "" {
		if err := printers.SortObjects(objs, o.sortBy); err != nil {
			return err
		}
	}
	p, err := printers.NewObject(format, o.noHeaders)
	if err != nil {
		return err
	}
	single := len(targets) == 1 && len(targets[0].Names) == 1
	if len(objs) == 0 && (format.Name == "name" || format.Name == "custom-columns") {
		if len(errs) == 0 && !single {
			fmt.Fprintln(o.env.ErrOut, printers.NoResources(sel.Namespace, sel.AllNamespaces, resource.AnyNamespaced(targets)))
		}
		return utilerrors.NewAggregate(errs)
	}
	if len(objs) > 0 || !single {
		if err := printers.PrintObjects(p, objs, single, o.env.Out); err != nil {
			return err
		}
	}
	return utilerrors.NewAggregate(errs)
}

func dropNotFound(errs []error) []error {
	var out []error
	for _, e := range errs {
		if !apierrors.IsNotFound(e) {
			out = append(out, e)
		}
	}
	return out
}

func (o *getOptions) runWatch(ctx context.Context, format printers.Format, targets []resource.Target, sel resource.Selector) error {
	if len(targets) != 1 || len(targets[0].Names) > 1 {
		return fmt.Errorf("watch is only supported on individual resources and resource collections, but %d resources were found", countTargets(targets))
	}
	t := targets[0]
	if format.IsTable() {
		return o.watchTable(ctx, format, t, sel)
	}
	return o.watchObjects(ctx, format, t, sel)
}

func countTargets(ts []resource.Target) int {
	n := 0
	for _, t := range ts {
		n += max(1, len(t.Names))
	}
	return n
}

func (o *getOptions) watchTable(ctx context.Context, format printers.Format, t resource.Target, sel resource.Selector) error {
	raw, err := o.env.Raw()
	if err != nil {
		return err
	}
	table, notFound, err := o.readTable(ctx, raw, t, sel)
	if err != nil {
		return err
	}
	if len(notFound) > 0 {
		return notFound[0]
	}
	// One tab writer for the whole watch remembers the column widths, so
	// rows printed later line up with the first ones.
	tw := cliprinters.GetNewTabWriter(o.env.Out)
	p := printers.NewTable(o.tableOptions(format, schema.GroupKind{}))
	print := func(eventType string, tb *metav1.Table) error {
		var obj runtime.Object = tb
		if o.watchEvents {
			obj = printers.WatchEvent(eventType, tb)
		}
		if err := p.PrintObj(obj, tw); err != nil {
			return err
		}
		return tw.Flush()
	}
	if !o.watchOnly {
		if len(table.Rows) == 0 && len(t.Names) == 0 {
			fmt.Fprintln(o.env.ErrOut, printers.NoResources(sel.Namespace, sel.AllNamespaces, resource.Namespaced(t.Mapping)))
		}
		if err := print(string(watch.Added), table); err != nil {
			return err
		}
	}
	req := resource.TableRequest{Mapping: t.Mapping, Namespace: sel.NamespaceFor(t.Mapping), Labels: sel.Labels, Fields: sel.Fields}
	if len(t.Names) == 1 {
		req.Name = t.Names[0]
	}
	rv := table.ResourceVersion
	// The server ends a watch after a while; go on from the last
	// version seen until the user stops ctl.
	for ctx.Err() == nil {
		var werr error
		err := raw.WatchTable(ctx, req, rv, func(ev resource.WatchEvent) bool {
			if ev.Err != nil {
				werr = ev.Err
				return false
			}
			if ev.Table == nil {
				return true
			}
			for _, row := range ev.Table.Rows {
				if m, err := meta.Accessor(row.Object.Object); err == nil && m.GetResourceVersion() != "" {
					rv = m.GetResourceVersion()
				}
			}
			if err := print(ev.Type, ev.Table); err != nil {
				werr = err
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
	}
	return nil
}

func (o *getOptions) watchObjects(ctx context.Context, format printers.Format, t resource.Target, sel resource.Selector) error {
	dyn, err := o.env.Dynamic()
	if err != nil {
		return err
	}
	p, err := printers.NewObject(format, o.noHeaders)
	if err != nil {
		return err
	}
	client := resource.ClientFor(dyn, t.Mapping, sel.NamespaceFor(t.Mapping))
	opts := metav1.ListOptions{LabelSelector: sel.Labels, FieldSelector: sel.Fields}
	if len(t.Names) == 1 {
		opts.FieldSelector = "metadata.name=" + t.Names[0]
	}
	list, err := client.List(ctx, opts)
	if err != nil {
		return err
	}
	show := func(obj runtime.Object) error {
		if err := p.PrintObj(obj, o.env.Out); err != nil {
			return err
		}
		if cc, ok := p.(*printers.CustomColumns); ok {
			return cc.Flush(o.env.Out)
		}
		return nil
	}
	if !o.watchOnly {
		for i := range list.Items {
			if err := show(&list.Items[i]); err != nil {
				return err
			}
		}
	}
	opts.ResourceVersion = list.GetResourceVersion()
	for ctx.Err() == nil {
		w, err := client.Watch(ctx, opts)
		if err != nil {
			return err
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				w.Stop()
				return apierrors.FromObject(ev.Object)
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type == watch.Bookmark {
				continue
			}
			opts.ResourceVersion = u.GetResourceVersion()
			if err := show(u); err != nil {
				w.Stop()
				return err
			}
		}
	}
	return nil
}
