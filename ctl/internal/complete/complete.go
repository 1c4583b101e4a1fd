// Package complete completes the arguments of ctl's commands in the
// shell: resource types from discovery, then the names of objects of that
// type. (The `ctl completion` command, which prints the shell's script, is
// cmd/completion.)
package complete

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/resource"
)

// Resources completes resource types, then names of that type.
func Resources(env *cmdenv.Env) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			d, err := env.Clients.Discovery()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			_, lists, _ := d.ServerGroupsAndResources()
			var out []string
			for _, l := range lists {
				for _, r := range l.APIResources {
					if !strings.Contains(r.Name, "/") && strings.HasPrefix(r.Name, toComplete) {
						out = append(out, r.Name)
					}
				}
			}
			sort.Strings(out)
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		r, err := env.Resolver()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		m, err := r.Mapping(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ns, _, _ := env.Namespace()
		dyn, err := env.Dynamic()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		items, err := resource.List(cmd.Context(), resource.ClientFor(dyn, m, ns), "", "")
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, it := range items {
			if strings.HasPrefix(it.GetName(), toComplete) {
				out = append(out, it.GetName())
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
