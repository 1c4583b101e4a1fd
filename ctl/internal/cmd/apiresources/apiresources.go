// Package apiresources is `ctl api-resources`: the resources the server
// serves, from discovery.
package apiresources

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/discovery"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/helptext"
)

// New is the api-resources command.
func New(env *cmdenv.Env) *cobra.Command {
	var output, group string
	var namespaced, noHeaders bool
	var verbs []string
	cmd := &cobra.Command{
		Use:   "api-resources",
		Short: "Print the supported API resources on the server",
		Example: helptext.Examples(`
# Print the supported API resources
ctl api-resources

# Print the supported API resources with more information
ctl api-resources -o wide

# Print the supported namespaced resources, or those of one API group
ctl api-resources --namespaced=true
ctl api-resources --api-group=apps`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := env.Clients.Discovery()
			if err != nil {
				return err
			}
			_, lists, err := d.ServerGroupsAndResources()
			if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
				return err
			}
			type row struct {
				r  metav1.APIResource
				gv schema.GroupVersion
			}
			var rows []row
			nsFlag := cmd.Flags().Changed("namespaced")
			for _, l := range lists {
				gv, _ := schema.ParseGroupVersion(l.GroupVersion)
				if cmd.Flags().Changed("api-group") && gv.Group != group {
					continue
				}
				for _, r := range l.APIResources {
					if strings.Contains(r.Name, "/") || (nsFlag && r.Namespaced != namespaced) {
						continue
					}
					if len(verbs) > 0 && !hasAll(r.Verbs, verbs) {
						continue
					}
					rows = append(rows, row{r, gv})
				}
			}
			sort.SliceStable(rows, func(i, j int) bool {
				if rows[i].gv.Group != rows[j].gv.Group {
					return rows[i].gv.Group < rows[j].gv.Group
				}
				return rows[i].r.Name < rows[j].r.Name
			})
			tw := cliprinters.GetNewTabWriter(env.Out)
			defer tw.Flush()
			if output == "name" {
				for _, r := range rows {
					if r.gv.Group == "" {
						fmt.Fprintln(tw, r.r.Name)
					} else {
						fmt.Fprintf(tw, "%s.%s\n", r.r.Name, r.gv.Group)
					}
				}
				return nil
			}
			if !noHeaders {
				h := "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND"
				if output == "wide" {
					h += "\tVERBS\tCATEGORIES"
				}
				fmt.Fprintln(tw, h)
			}
			for _, r := range rows {
				line := fmt.Sprintf("%s\t%s\t%s\t%v\t%s", r.r.Name, strings.Join(r.r.ShortNames, ","), r.gv.String(), r.r.Namespaced, r.r.Kind)
				if output == "wide" {
					line += fmt.Sprintf("\t%s\t%s", "["+strings.Join(r.r.Verbs, " ")+"]", strings.Join(r.r.Categories, ","))
				}
				fmt.Fprintln(tw, line)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format. One of: (wide, name).")
	cmd.Flags().StringVar(&group, "api-group", "", "Limit to resources in the specified API group.")
	cmd.Flags().BoolVar(&namespaced, "namespaced", true, "If false, non-namespaced resources will be returned, otherwise returning namespaced resources by default.")
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "When using the default or custom-column output format, don't print headers (default print headers).")
	cmd.Flags().StringSliceVar(&verbs, "verbs", nil, "Limit to resources that support the specified verbs.")
	return cmd
}

func hasAll(have metav1.Verbs, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
