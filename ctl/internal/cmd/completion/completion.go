// Package completion is `ctl completion`: the shell code (bash, zsh,
// fish, PowerShell) that completes ctl's commands, resource types and
// names. (What completes a command's arguments is the complete package.)
package completion

import (
	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
)

// New is the completion command.
func New(env *cmdenv.Env) *cobra.Command {
	return &cobra.Command{
		Use:       "completion SHELL",
		Short:     "Output shell completion code for the specified shell (bash, zsh, fish, or powershell)",
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Long: `Output shell completion code for the specified shell (bash, zsh, fish, or powershell).
The shell code must be evaluated to provide interactive completion of ctl
commands, resource types and names.`,
		Example: helptext.Examples(`
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
