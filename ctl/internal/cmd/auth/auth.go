// Package auth is `ctl auth`: can-i asks the server whether the caller
// (or, with --as, someone else) may do something — a
// SelfSubjectAccessReview, or a SelfSubjectRulesReview for --list — and
// whoami asks who the server takes the caller for — a
// SelfSubjectReview. Both print what kubectl's auth commands print, and
// can-i answers "no" with exit code 1 so that scripts can test it.
package auth

import (
	"strings"

	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
)

// New is the auth command.
func New(env *cmdenv.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Inspect authorization",
		Long:  "Inspect authorization.",
		Example: helptext.Examples(`
# Check whether I can create pods in the current namespace
ctl auth can-i create pods

# Show who the server takes me for
ctl auth whoami`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmderr.Usage(cmd.CommandPath(), "unknown command %q", strings.Join(args, " "))
			}
			// As kubectl: a bare group command shows its help on standard
			// error and fails, so that a script that forgot the
			// subcommand does not pass.
			cmd.SetOut(env.ErrOut)
			_ = cmd.Help()
			return cmderr.ErrExit
		},
	}
	cmd.AddCommand(newCanI(env), newWhoAmI(env))
	return cmd
}
