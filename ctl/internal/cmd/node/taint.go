package node

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
)

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

// NewTaint is the taint command.
func NewTaint(env *cmdenv.Env) *cobra.Command {
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
		Example: helptext.Examples(`
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
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			nodes, errs, err := readNodes(cmd.Context(), typed, names, selector, all)
			if err != nil {
				return err
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
				if err := mergePatch(cmd.Context(), typed, node.Name, patch); err != nil {
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
