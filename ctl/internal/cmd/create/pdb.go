package create

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/creator"
	"coracle.dev/ctl/internal/helptext"
)

// pdbBound is what --min-available and --max-unavailable accept, as
// kubectl: a number or a percentage ("10", "50%"), nothing with units.
var pdbBound = regexp.MustCompile(`^[0-9]+%?$`)

// pdbFlags are create poddisruptionbudget's flags.
type pdbFlags struct {
	minAvailable, maxUnavailable, selector string
}

// budget is the PodDisruptionBudget the flags ask for, after kubectl's
// checks, in its order and words.
func (f *pdbFlags) budget(name string) (*policyv1.PodDisruptionBudget, error) {
	switch {
	case f.selector == "":
		return nil, errors.New("a selector must be specified")
	case f.minAvailable == "" && f.maxUnavailable == "":
		return nil, errors.New("one of min-available or max-unavailable must be specified")
	case f.minAvailable != "" && f.maxUnavailable != "":
		return nil, errors.New("min-available and max-unavailable cannot be both specified")
	case f.minAvailable != "" && !pdbBound.MatchString(f.minAvailable):
		return nil, errors.New("invalid format specified for min-available")
	case f.maxUnavailable != "" && !pdbBound.MatchString(f.maxUnavailable):
		return nil, errors.New("invalid format specified for max-unavailable")
	}
	sel, err := metav1.ParseToLabelSelector(f.selector)
	if err != nil {
		return nil, err
	}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: policyv1.PodDisruptionBudgetSpec{Selector: sel}}
	if f.minAvailable != "" {
		v := intstr.Parse(f.minAvailable)
		pdb.Spec.MinAvailable = &v
	} else {
		v := intstr.Parse(f.maxUnavailable)
		pdb.Spec.MaxUnavailable = &v
	}
	return pdb, nil
}

func newCreatePodDisruptionBudget(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var f pdbFlags
	cmd := &cobra.Command{
		Use:                   "poddisruptionbudget NAME --selector=SELECTOR --min-available=N [--dry-run=server|client|none]",
		DisableFlagsInUseLine: true,
		Aliases:               []string{"pdb"},
		Short:                 "Create a pod disruption budget with the specified name",
		Long:                  "Create a pod disruption budget with the specified name, selector, and desired minimum available pods.",
		Example: helptext.Examples(`
# Create a pod disruption budget named my-pdb that will select all pods with the app=rails label
# and require at least one of them being available at any point in time
ctl create poddisruptionbudget my-pdb --selector=app=rails --min-available=1

# Create a pod disruption budget named my-pdb that will select all pods with the app=nginx label
# and require at least half of the pods selected to be available at any point in time
ctl create pdb my-pdb --selector=app=nginx --min-available=50%`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			c, err := creator.New(env, &w)
			if err != nil {
				return err
			}
			pdb, err := f.budget(name)
			if err != nil {
				return err
			}
			ns, _, err := env.Namespace()
			if err != nil {
				return err
			}
			if err := c.CreateTyped(cmd.Context(), pdb, ns, "created"); err != nil {
				return fmt.Errorf("failed to create poddisruptionbudgets: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.minAvailable, "min-available", "", "The minimum number or percentage of available pods this budget requires.")
	cmd.Flags().StringVar(&f.maxUnavailable, "max-unavailable", "", "The maximum number or percentage of unavailable pods this budget requires.")
	cmd.Flags().StringVar(&f.selector, "selector", "", "A label selector to use for this budget. Only equality-based selector requirements are supported.")
	w.Add(cmd)
	return cmd
}
