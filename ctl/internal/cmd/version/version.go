// Package version is `ctl version`: the client's version and the
// server's.
package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/shared/version"
)

// New is the version command.
func New(env *cmdenv.Env) *cobra.Command {
	var client bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server version information",
		Long:  "Print the client and server version information for the current context.",
		Example: helptext.Examples(`
# Print the client and server versions for the current context
ctl version

# Only the client's, as JSON
ctl version --client -o json`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := map[string]any{"clientVersion": version.Get()}
			var serverErr error
			if !client {
				typed, err := env.Typed()
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
