package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/drain"
	"coracle.dev/ctl/internal/helptext"
)

// NewDrain is the drain command.
func NewDrain(env *cmdenv.Env) *cobra.Command {
	o := drain.Options{}
	var selector string
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Drain node in preparation for maintenance",
		Long: `Drain node in preparation for maintenance.

The node is cordoned, then its pods are evicted through the eviction API, so
disruption budgets are respected, and ctl waits until they are gone. Pods
that a controller would not replace (no controller, DaemonSet-managed, using
emptyDir data) stop the drain unless --force, --ignore-daemonsets or
--delete-emptydir-data say otherwise. When the drain is done, uncordon the
node to let pods on it again.`,
		Example: helptext.Examples(`
# Drain node "foo", even if there are pods not managed by a replication controller, replica set, job, daemon set, or stateful set on it
ctl drain foo --force

# As above, but abort if there are pods not managed by a controller, and use a grace period of 15 minutes
ctl drain foo --grace-period=900

# Leave DaemonSet pods where they are
ctl drain foo --ignore-daemonsets`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "USAGE: drain NODE [flags]")
			}
			o.Out, o.ErrOut = env.Out, env.ErrOut
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			d := &drain.Drainer{Client: typed}
			var pending []string
			var errs []error
			for _, node := range args {
				if err := setUnschedulable(cmd.Context(), env, []string{node}, "", true); err != nil {
					return err
				}
				if err := drainNode(cmd.Context(), d, node, selector, o); err != nil {
					pending = append(pending, node)
					errs = append(errs, err)
					fmt.Fprintf(env.ErrOut, "error: unable to drain node %q due to error: %v, continuing command...\n", node, err)
					continue
				}
				fmt.Fprintf(env.Out, "node/%s drained\n", node)
			}
			if len(pending) > 0 {
				fmt.Fprintf(env.ErrOut, "There are pending nodes to be drained:\n %s\n", strings.Join(pending, "\n "))
			}
			return utilerrors.NewAggregate(errs)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.IgnoreDaemonSets, "ignore-daemonsets", false, "Ignore DaemonSet-managed pods.")
	f.BoolVar(&o.DeleteEmptyDirData, "delete-emptydir-data", false, "Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).")
	f.BoolVar(&o.Force, "force", false, "Continue even if there are pods that do not declare a controller.")
	f.IntVar(&o.GracePeriodSeconds, "grace-period", -1, "Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.")
	f.DurationVar(&o.Timeout, "timeout", 0, "The length of time to wait before giving up, zero means infinite")
	f.BoolVar(&o.DisableEviction, "disable-eviction", false, "Force drain to use delete, even if eviction is supported. This will bypass checking PodDisruptionBudgets, use with caution.")
	f.StringVar(&selector, "pod-selector", "", "Label selector to filter pods on the node")
	return cmd
}

func drainNode(ctx context.Context, d *drain.Drainer, node, selector string, o drain.Options) error {
	pods, err := d.PodsOn(ctx, node, selector)
	if err != nil {
		return err
	}
	plan := drain.Decide(pods, o)
	if len(plan.Errors) > 0 {
		return fmt.Errorf("%s", strings.Join(drain.Messages(plan.Errors), ", "))
	}
	for _, w := range drain.Messages(plan.Warnings) {
		fmt.Fprintf(o.ErrOut, "Warning: %s\n", w)
	}
	return d.Evict(ctx, plan.Evict, o)
}
