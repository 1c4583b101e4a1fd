// Package dryrun is the --dry-run flag of the commands that write objects
// (apply, create, run, expose): none, client (only print what would be
// sent) or server (the server checks the write but does not persist it),
// with kubectl's messages for a bad value.
package dryrun

import (
	"fmt"

	"github.com/spf13/cobra"
)

// AddFlag registers --dry-run on cmd, stored in p.
func AddFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "dry-run", "none", `Must be "none", "server", or "client". If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.`)
	// A bare --dry-run is refused, as kubectl refuses it.
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "unchanged"
}

// Mode validates --dry-run and returns "", "client" or "server".
func Mode(v string) (string, error) {
	switch v {
	case "", "none", "false":
		return "", nil
	case "client", "server":
		return v, nil
	case "unchanged", "true":
		return "", fmt.Errorf(`--dry-run must be specified as "none", "server", or "client"`)
	}
	return "", fmt.Errorf(`Invalid dry-run value (%v). Must be "none", "server", or "client".`, v)
}

// Suffix ends a command's report line: "" or " (server dry run)".
func Suffix(mode string) string {
	if mode == "" {
		return ""
	}
	return " (" + mode + " dry run)"
}
