// Package clusterinfo is `ctl cluster-info`: where the control plane and
// the cluster services answer.
package clusterinfo

import (
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/helptext"
)

// New is the cluster-info command.
func New(env *cmdenv.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "cluster-info",
		Short: "Display cluster information",
		Long:  "Display addresses of the control plane and services with label kubernetes.io/cluster-service=true.",
		Example: helptext.Examples(`
# Print the address of the control plane and cluster services
ctl cluster-info`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.REST()
			if err != nil {
				return err
			}
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			// Ask the server, so an unreachable one is an error.
			if _, err := typed.Discovery().ServerVersion(); err != nil {
				return err
			}
			fmt.Fprintf(env.Out, "Kubernetes control plane is running at %s\n", cfg.Host)
			svcs, err := typed.CoreV1().Services("kube-system").List(cmd.Context(), metav1.ListOptions{LabelSelector: "kubernetes.io/cluster-service=true"})
			if err == nil {
				for _, s := range svcs.Items {
					name := s.Labels["kubernetes.io/name"]
					if name == "" {
						name = s.Name
					}
					fmt.Fprintf(env.Out, "%s is running at %s/api/v1/namespaces/kube-system/services/%s/proxy\n", name, cfg.Host, s.Name)
				}
			}
			fmt.Fprintln(env.Out, "\nTo further debug and diagnose cluster problems, use 'ctl get events -A' and 'ctl describe'.")
			return nil
		},
	}
}
