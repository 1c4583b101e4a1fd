package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/drain"
)

// setUnschedulable cordons or uncordons nodes, printing kubectl's lines.
func setUnschedulable(ctx context.Context, env *Env, names []string, selector string, on bool) error {
	typed, err := env.typed()
	if err != nil {
		return err
	}
	var nodes []corev1.Node
	var errs []error
	if selector != "" {
		list, err := typed.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		nodes = list.Items
	}
	for _, n := range names {
		node, err := typed.CoreV1().Nodes().Get(ctx, strings.TrimPrefix(strings.TrimPrefix(n, "node/"), "nodes/"), metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		nodes = append(nodes, *node)
	}
	verb := "uncordoned"
	if on {
		verb = "cordoned"
	}
	for _, node := range nodes {
		if node.Spec.Unschedulable == on {
			fmt.Fprintf(env.Out, "node/%s already %s\n", node.Name, verb)
			continue
		}
		var patch []byte
		if on {
			patch = []byte(`{"spec":{"unschedulable":true}}`)
		} else {
			patch = []byte(`{"spec":{"unschedulable":null}}`)
		}
		if _, err := typed.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "ctl"}); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(env.Out, "node/%s %s\n", node.Name, verb)
	}
	return utilerrors.NewAggregate(errs)
}

func newCordon(env *Env) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "cordon NODE",
		Short: "Mark node as unschedulable",
		Example: examples(`
# Mark node "foo" as unschedulable
ctl cordon foo`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && selector == "" {
				return cmderr.Usage(cmd.CommandPath(), "USAGE: cordon NODE [flags]")
			}
			return setUnschedulable(cmd.Context(), env, args, selector, true)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on")
	return cmd
}

func newUncordon(env *Env) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "uncordon NODE",
		Short: "Mark node as schedulable",
		Example: examples(`
# Mark node "foo" as schedulable
ctl uncordon foo`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && selector == "" {
				return cmderr.Usage(cmd.CommandPath(), "USAGE: uncordon NODE [flags]")
			}
			return setUnschedulable(cmd.Context(), env, args, selector, false)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on")
	return cmd
}

func newDrain(env *Env) *cobra.Command {
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
		Example: examples(`
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
			typed, err := env.typed()
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

// taintChange is one TAINT argument: key[=value]:Effect, or a removal
// key[:Effect]-.
type taintChange struct {
	taint  corev1.Taint
	remove bool
}

func parseTaint(s string) (taintChange, error) {
	var tc taintChange
	if strings.HasSuffix(s, "-") {
		tc.remove = true
		s = strings.TrimSuffix(s, "-")
		key, effect, _ := strings.Cut(s, ":")
		tc.taint = corev1.Taint{Key: key, Effect: corev1.TaintEffect(effect)}
		return tc, nil
	}
	kv, effect, ok := strings.Cut(s, ":")
	if !ok || effect == "" {
		return tc, fmt.Errorf("invalid taint spec: %v", s)
	}
	switch corev1.TaintEffect(effect) {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return tc, fmt.Errorf("invalid taint spec: %v, unsupported taint effect", s)
	}
	key, value, _ := strings.Cut(kv, "=")
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return tc, fmt.Errorf("invalid taint spec: %v, %s", s, strings.Join(errs, "; "))
	}
	if value != "" {
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			return tc, fmt.Errorf("invalid taint spec: %v, %s", s, strings.Join(errs, "; "))
		}
	}
	tc.taint = corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)}
	return tc, nil
}

// applyTaints returns the node's new taints and kubectl's verb.
func applyTaints(current []corev1.Taint, changes []taintChange, overwrite bool, node string) ([]corev1.Taint, string, error) {
	out := append([]corev1.Taint(nil), current...)
	added, removed, modified := false, false, false
	for _, c := range changes {
		if c.remove {
			kept := out[:0:0]
			found := false
			for _, t := range out {
				if t.Key == c.taint.Key && (c.taint.Effect == "" || t.Effect == c.taint.Effect) {
					found = true
					continue
				}
				kept = append(kept, t)
			}
			if !found {
				return nil, "", fmt.Errorf("taint %q not found", c.taint.ToString())
			}
			out, removed = kept, true
			continue
		}
		replaced := false
		for i, t := range out {
			if t.Key == c.taint.Key && t.Effect == c.taint.Effect {
				if !overwrite {
					return nil, "", fmt.Errorf("node %s already has %s taint(s) with same effect(s) and --overwrite is false", node, t.Key)
				}
				out[i], replaced, modified = c.taint, true, true
			}
		}
		if !replaced {
			out, added = append(out, c.taint), true
		}
	}
	switch {
	case modified || (added && removed):
		return out, "modified", nil
	case removed:
		return out, "untainted", nil
	}
	return out, "tainted", nil
}

func newTaint(env *Env) *cobra.Command {
	var overwrite bool
	var selector string
	var all bool
	cmd := &cobra.Command{
		Use:   "taint NODE NAME KEY_1=VAL_1:TAINT_EFFECT_1 ... KEY_N=VAL_N:TAINT_EFFECT_N",
		Short: "Update the taints on one or more nodes",
		Long: `Update the taints on one or more nodes.

A taint is key=value:effect; the effect is NoSchedule, PreferNoSchedule or
NoExecute. key:effect- removes the taint with that key and effect, key-
every taint with that key.`,
		Example: examples(`
# Update node 'foo' with a taint with key 'dedicated' and value 'special-user' and effect 'NoSchedule'
ctl taint nodes foo dedicated=special-user:NoSchedule

# Remove from node 'foo' the taint with key 'dedicated' and effect 'NoSchedule' if one exists
ctl taint nodes foo dedicated:NoSchedule-

# Remove from node 'foo' all the taints with key 'dedicated'
ctl taint nodes foo dedicated-`),
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			var changes []taintChange
			rest := args
			if len(rest) > 0 && (rest[0] == "node" || rest[0] == "nodes" || rest[0] == "no") {
				rest = rest[1:]
			}
			for _, a := range rest {
				if strings.Contains(a, ":") || strings.Contains(a, "=") || (strings.HasSuffix(a, "-") && len(names) > 0) {
					tc, err := parseTaint(a)
					if err != nil {
						return err
					}
					changes = append(changes, tc)
					continue
				}
				names = append(names, strings.TrimPrefix(strings.TrimPrefix(a, "nodes/"), "node/"))
			}
			if len(changes) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "at least one taint update is required")
			}
			typed, err := env.typed()
			if err != nil {
				return err
			}
			var nodes []corev1.Node
			if selector != "" || all {
				list, err := typed.CoreV1().Nodes().List(cmd.Context(), metav1.ListOptions{LabelSelector: selector})
				if err != nil {
					return err
				}
				nodes = list.Items
			}
			var errs []error
			for _, n := range names {
				node, err := typed.CoreV1().Nodes().Get(cmd.Context(), n, metav1.GetOptions{})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				nodes = append(nodes, *node)
			}
			for _, node := range nodes {
				taints, verb, err := applyTaints(node.Spec.Taints, changes, overwrite, node.Name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				patch, _ := json.Marshal(map[string]any{
					"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
					"spec":     map[string]any{"taints": taints},
				})
				if _, err := typed.CoreV1().Nodes().Patch(cmd.Context(), node.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "ctl"}); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(env.Out, "node/%s %s\n", node.Name, verb)
			}
			return utilerrors.NewAggregate(errs)
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "If true, allow taints to be overwritten, otherwise reject taint updates that overwrite existing taints.")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on")
	cmd.Flags().BoolVar(&all, "all", false, "Select all nodes in the cluster")
	return cmd
}
