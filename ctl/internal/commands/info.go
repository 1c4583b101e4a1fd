package commands

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"

	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/resource"
	"coracle.dev/shared/version"
)

func newVersion(env *Env) *cobra.Command {
	var client bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server version information",
		Long:  "Print the client and server version information for the current context.",
		Example: examples(`
# Print the client and server versions for the current context
ctl version

# Only the client's, as JSON
ctl version --client -o json`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := map[string]any{"clientVersion": version.Get()}
			var serverErr error
			if !client {
				typed, err := env.typed()
				if err == nil {
					var sv any
					sv, err = typed.Discovery().ServerVersion()
					if err == nil {
						out["serverVersion"] = sv
					}
				}
				serverErr = err
			}
			switch output {
			case "json":
				b, _ := json.MarshalIndent(out, "", "  ")
				fmt.Fprintln(env.Out, string(b))
			case "yaml":
				b, _ := yaml.Marshal(out)
				fmt.Fprint(env.Out, string(b))
			case "":
				fmt.Fprintf(env.Out, "Client Version: %s\n", version.Get().GitVersion)
				if sv, ok := out["serverVersion"]; ok {
					fmt.Fprintf(env.Out, "Server Version: %s\n", sv.(interface{ String() string }).String())
				}
			default:
				return fmt.Errorf("--output must be 'yaml' or 'json'")
			}
			return serverErr
		},
	}
	cmd.Flags().BoolVar(&client, "client", false, "If true, shows client version only (no server required).")
	cmd.Flags().StringVarP(&output, "output", "o", "", "One of 'yaml' or 'json'.")
	return cmd
}

func newClusterInfo(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "cluster-info",
		Short: "Display cluster information",
		Long:  "Display addresses of the control plane and services with label kubernetes.io/cluster-service=true.",
		Example: examples(`
# Print the address of the control plane and cluster services
ctl cluster-info`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.rest()
			if err != nil {
				return err
			}
			typed, err := env.typed()
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

func newAPIResources(env *Env) *cobra.Command {
	var output, group string
	var namespaced, noHeaders bool
	var verbs []string
	cmd := &cobra.Command{
		Use:   "api-resources",
		Short: "Print the supported API resources on the server",
		Example: examples(`
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

func newCompletion(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:       "completion SHELL",
		Short:     "Output shell completion code for the specified shell (bash, zsh, fish, or powershell)",
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Long: `Output shell completion code for the specified shell (bash, zsh, fish, or powershell).
The shell code must be evaluated to provide interactive completion of ctl
commands, resource types and names.`,
		Example: examples(`
# Load the ctl completion code for bash into the current shell
source <(ctl completion bash)

# Load it for zsh
source <(ctl completion zsh)`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmderr.Usage(cmd.CommandPath(), "Shell not specified.")
			}
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(env.Out, true)
			case "zsh":
				return root.GenZshCompletion(env.Out)
			case "fish":
				return root.GenFishCompletion(env.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(env.Out)
			}
			return cmderr.Usage(cmd.CommandPath(), "Unsupported shell type %q.", args[0])
		},
	}
}

// completeResources completes resource types, then names of that type.
func completeResources(env *Env) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
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
		r, err := env.resolver()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		m, err := r.Mapping(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ns, _, _ := env.namespace()
		dyn, err := env.dynamic()
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
