package create

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/creator"
	"coracle.dev/ctl/internal/helptext"
)

func newCreateQuota(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var hard, scopes string
	cmd := &cobra.Command{
		Use:                   "quota NAME [--hard=key1=value1,key2=value2] [--scopes=Scope1,Scope2] [--dry-run=server|client|none]",
		DisableFlagsInUseLine: true,
		Aliases:               []string{"resourcequota"},
		Short:                 "Create a quota with the specified name",
		Long:                  "Create a resource quota with the specified name, hard limits, and optional scopes.",
		Example: helptext.Examples(`
# Create a new resource quota named my-quota
ctl create quota my-quota --hard=cpu=1,memory=1G,pods=2,services=3,replicationcontrollers=2,resourcequotas=1,secrets=5,persistentvolumeclaims=10

# Create a new resource quota named best-effort
ctl create quota best-effort --hard=pods=100 --scopes=BestEffort`),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			q, err := newQuota(name, hard, scopes)
			if err != nil {
				return err
			}
			return creator.InNamespace(cmd.Context(), env, &w, q)
		},
	}
	cmd.Flags().StringVar(&hard, "hard", "", "A comma-delimited set of resource=quantity pairs that define a hard limit.")
	cmd.Flags().StringVar(&scopes, "scopes", "", "A comma-delimited set of quota scopes that must all match each object tracked by the quota.")
	w.Add(cmd)
	return cmd
}

// newQuota is the ResourceQuota kubectl's generator makes of --hard and
// --scopes: scopes are not checked here, the apiserver does that.
func newQuota(name, hard, scopes string) (*corev1.ResourceQuota, error) {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if hard != "" {
		q.Spec.Hard = corev1.ResourceList{}
		for _, stmt := range strings.Split(hard, ",") {
			parts := strings.Split(stmt, "=")
			if len(parts) != 2 {
				return nil, fmt.Errorf("Invalid argument syntax %v, expected <resource>=<value>", stmt) //nolint:staticcheck // kubectl's message
			}
			v, err := resource.ParseQuantity(parts[1])
			if err != nil {
				return nil, err
			}
			q.Spec.Hard[corev1.ResourceName(parts[0])] = v
		}
	}
	if scopes != "" {
		for _, s := range strings.Split(scopes, ",") {
			if s == "" {
				return nil, fmt.Errorf("invalid resource quota scope \"\"")
			}
			q.Spec.Scopes = append(q.Spec.Scopes, corev1.ResourceQuotaScope(s))
		}
	}
	return q, nil
}
