// Package delete is `ctl delete`: objects named by -f, by TYPE NAME or by
// selector, deleted with the grace period and cascade asked for, and
// waited for until they are gone.
package delete

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/complete"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/printers"
	"coracle.dev/ctl/internal/resource"
)

type deleteOptions struct {
	env           *cmdenv.Env
	files         objects.Files
	labels        string
	fields        string
	all           bool
	allNamespaces bool
	cascade       string
	gracePeriod   int
	force         bool
	now           bool
	wait          bool
	timeout       time.Duration
	ignoreMissing bool
	output        string
}

// New is the delete command.
func New(env *cmdenv.Env) *cobra.Command {
	o := &deleteOptions{env: env}
	cmd := &cobra.Command{
		Use:   "delete ([-f FILENAME] | TYPE [(NAME | -l label | --all)])",
		Short: "Delete resources by file names, stdin, resources and names, or by resources and label selector",
		Long: `Delete resources by file names, stdin, resources and names, or by resources and label selector.

Pods are deleted gracefully: the kubelet stops their containers within the
grace period. --force removes them from the API at once, without waiting for
confirmation that they stopped. ctl waits until the objects are gone
(--wait=false returns at once). --cascade chooses what happens to the
objects a deleted one owns: background (the default), foreground (the owner
goes last) or orphan (they stay).`,
		Example: helptext.Examples(`
# Delete a pod using the type and name specified in pod.json
ctl delete -f ./pod.json

# Delete pods and services with same names "baz" and "foo"
ctl delete pod,service baz foo

# Delete pods and services with label name=myLabel
ctl delete pods,services -l name=myLabel

# Delete a pod with minimal delay
ctl delete pod foo --now

# Force delete a pod on a dead node
ctl delete pod foo --force

# Delete a deployment and leave its replica sets behind
ctl delete deployment web --cascade=orphan`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd, args)
		},
		ValidArgsFunction: complete.Resources(env),
	}
	o.files.Add(cmd, "containing the resource to delete.")
	f := cmd.Flags()
	f.StringVarP(&o.labels, "selector", "l", "", "Selector (label query) to filter on, not including uninitialized ones.")
	f.StringVar(&o.fields, "field-selector", "", "Selector (field query) to filter on, supports '=', '==', and '!='.")
	f.BoolVar(&o.all, "all", false, "Delete all resources, in the namespace of the specified resource types.")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces.")
	f.StringVar(&o.cascade, "cascade", "background", `Must be "background", "orphan", or "foreground". Selects the deletion cascading strategy for the dependents (e.g. Pods created by a ReplicationController). Defaults to background.`)
	f.Lookup("cascade").NoOptDefVal = "background"
	f.IntVar(&o.gracePeriod, "grace-period", -1, "Period of time in seconds given to the resource to terminate gracefully. Ignored if negative. Set to 1 for immediate shutdown. Can only be set to 0 when --force is true (force deletion).")
	f.BoolVar(&o.force, "force", false, "If true, immediately remove resources from API and bypass graceful deletion. Note that immediate deletion of some resources may result in inconsistency or data loss and requires confirmation.")
	f.BoolVar(&o.now, "now", false, "If true, resources are signaled for immediate shutdown (same as --grace-period=1).")
	f.BoolVar(&o.wait, "wait", true, "If true, wait for resources to be gone before returning. This waits for finalizers.")
	f.DurationVar(&o.timeout, "timeout", 0, "The length of time to wait before giving up on a delete, zero means wait a week")
	f.BoolVar(&o.ignoreMissing, "ignore-not-found", false, "Treat \"resource not found\" as a successful delete. Defaults to \"true\" when --all is specified.")
	f.StringVarP(&o.output, "output", "o", "", "Output mode. Use \"-o name\" for shorter output (resource/name).")
	return cmd
}

func (o *deleteOptions) propagation() (*metav1.DeletionPropagation, error) {
	var p metav1.DeletionPropagation
	switch o.cascade {
	case "background", "true":
		p = metav1.DeletePropagationBackground
	case "foreground":
		p = metav1.DeletePropagationForeground
	case "orphan", "false":
		p = metav1.DeletePropagationOrphan
	default:
		return nil, fmt.Errorf(`invalid cascade value (%v). Must be "background", "foreground", or "orphan"`, o.cascade)
	}
	return &p, nil
}

func (o *deleteOptions) run(ctx context.Context, cmd *cobra.Command, args []string) error {
	prop, err := o.propagation()
	if err != nil {
		return err
	}
	if o.output != "" && o.output != "name" {
		return fmt.Errorf("unexpected -o output mode: %v. We only support '-o name'", o.output)
	}
	grace := o.gracePeriod
	switch {
	case o.now && grace >= 0:
		return fmt.Errorf("--now and --grace-period cannot be specified together")
	case o.now:
		grace = 1
	case o.force && grace < 0:
		grace = 0
	case grace == 0 && !o.force:
		// Zero without --force means "as soon as possible", not "skip
		// graceful deletion".
		grace = 1
	}
	if o.force {
		fmt.Fprintln(o.env.ErrOut, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
	}
	oc, err := o.env.ObjectClients()
	if err != nil {
		return err
	}
	ns, explicit, r, dyn := oc.Namespace, oc.Explicit, oc.Resolver, oc.Dynamic
	var infos []*resource.Info
	var errs []error
	switch {
	case len(o.files.Filenames) > 0:
		if len(args) > 0 {
			return cmderr.Usage(cmd.CommandPath(), "cannot specify both a filename and resource arguments")
		}
		items, err := objects.Load(o.env, r, &o.files, ns, explicit)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Err != nil {
				errs = append(errs, it.Err)
				continue
			}
			infos = append(infos, it.Info)
		}
	case len(args) == 0:
		return cmderr.Usage(cmd.CommandPath(), "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
	default:
		targets, err := r.ParseArgs(args)
		if err != nil {
			return err
		}
		byName := false
		for _, t := range targets {
			byName = byName || len(t.Names) > 0
		}
		if !byName && o.labels == "" && o.fields == "" && !o.all {
			return fmt.Errorf("resource(s) were provided, but no name was specified")
		}
		if byName && (o.labels != "" || o.all) {
			return fmt.Errorf("name cannot be provided when a selector is specified")
		}
		for _, t := range targets {
			tns := ns
			if o.allNamespaces {
				tns = ""
			}
			if len(t.Names) > 0 {
				for _, n := range t.Names {
					infos = append(infos, &resource.Info{Mapping: t.Mapping, Namespace: tns, Name: n})
				}
				continue
			}
			items, err := resource.List(ctx, resource.ClientFor(dyn, t.Mapping, tns), o.labels, o.fields)
			if err != nil {
				return err
			}
			for i := range items {
				infos = append(infos, &resource.Info{Mapping: t.Mapping, Namespace: items[i].GetNamespace(), Name: items[i].GetName(), Object: &items[i]})
			}
		}
		if len(infos) == 0 && len(errs) == 0 {
			fmt.Fprintln(o.env.ErrOut, printers.NoResources(ns, o.allNamespaces, resource.AnyNamespaced(targets)))
			return nil
		}
	}
	opts := metav1.DeleteOptions{PropagationPolicy: prop}
	if grace >= 0 {
		g := int64(grace)
		opts.GracePeriodSeconds = &g
	}
	type deleted struct {
		info *resource.Info
		uid  types.UID
	}
	var gone []deleted
	for _, info := range infos {
		client := info.Client(dyn)
		uid := types.UID("")
		if info.Object != nil {
			uid = info.Object.GetUID()
		}
		if err := client.Delete(ctx, info.Name, opts); err != nil {
			if apierrors.IsNotFound(err) && (o.ignoreMissing || o.all) {
				continue
			}
			errs = append(errs, cmderr.WithSource("deleting", info.Source, err))
			continue
		}
		verb := "deleted"
		if o.force {
			verb = "force deleted"
		}
		if o.output == "name" {
			fmt.Fprintln(o.env.Out, info.Ref())
		} else {
			fmt.Fprintf(o.env.Out, "%s %s\n", info.Quoted(), verb)
		}
		gone = append(gone, deleted{info, uid})
	}
	if o.wait && grace != 0 {
		timeout := o.timeout
		if timeout == 0 {
			timeout = 7 * 24 * time.Hour
		}
		for _, d := range gone {
			if err := waitGone(ctx, dyn, d.info, d.uid, timeout); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return utilerrors.NewAggregate(errs)
}

// waitGone polls until the object is gone (or replaced by one with
// another uid).
func waitGone(ctx context.Context, dyn dynamic.Interface, info *resource.Info, uid types.UID, timeout time.Duration) error {
	client := info.Client(dyn)
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		obj, err := client.Get(ctx, info.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return uid != "" && obj.GetUID() != uid, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("timed out waiting for the condition on %s", info.Ref())
	}
	return err
}
