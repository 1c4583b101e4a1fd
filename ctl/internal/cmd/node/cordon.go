// Package node is the commands that act on nodes: cordon and uncordon
// (whether pods may be scheduled there), drain (cordon, then evict the
// node's pods) and taint. They read the nodes they are given the same way
// and patch them with the same field manager.
package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
)

// NewCordon is the cordon command.
func NewCordon(env *cmdenv.Env) *cobra.Command {
	return newUnschedulable(env, "cordon", "Mark node as unschedulable", helptext.Examples(`
# Mark node "foo" as unschedulable
ctl cordon foo`), true)
}

// NewUncordon is the uncordon command.
func NewUncordon(env *cmdenv.Env) *cobra.Command {
	return newUnschedulable(env, "uncordon", "Mark node as schedulable", helptext.Examples(`
# Mark node "foo" as schedulable
ctl uncordon foo`), false)
}

// newUnschedulable is cordon (on) or uncordon.
func newUnschedulable(env *cmdenv.Env, use, short, example string, on bool) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:     use + " NODE",
		Short:   short,
		Example: example,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && selector == "" {
				return cmderr.Usage(cmd.CommandPath(), "USAGE: %s NODE [flags]", use)
			}
			return setUnschedulable(cmd.Context(), env, args, selector, on)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on")
	return cmd
}

// setUnschedulable cordons or uncordons nodes, printing kubectl's lines.
func setUnschedulable(ctx context.Context, env *cmdenv.Env, names []string, selector string, on bool) error {
	typed, err := env.Typed()
	if err != nil {
		return err
	}
	trimmed := make([]string, len(names))
	for i, n := range names {
		trimmed[i] = strings.TrimPrefix(strings.TrimPrefix(n, "node/"), "nodes/")
	}
	nodes, errs, err := readNodes(ctx, typed, trimmed, selector, false)
	if err != nil {
		return err
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
		if err := mergePatch(ctx, typed, node.Name, patch); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(env.Out, "node/%s %s\n", node.Name, verb)
	}
	return utilerrors.NewAggregate(errs)
}

// readNodes reads the nodes a command names: those the label selector matches
// (every node with all), then each name given. A list that fails is the
// error; names not read are in errs, and the command goes on past them.
func readNodes(ctx context.Context, typed kubernetes.Interface, names []string, selector string, all bool) (nodes []corev1.Node, errs []error, err error) {
	if selector != "" || all {
		list, err := typed.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return nil, nil, err
		}
		nodes = list.Items
	}
	for _, n := range names {
		node, err := typed.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		nodes = append(nodes, *node)
	}
	return nodes, errs, nil
}

// mergePatch sends a JSON merge patch to a node.
func mergePatch(ctx context.Context, typed kubernetes.Interface, name string, patch []byte) error {
	_, err := typed.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "ctl"})
	return err
}
