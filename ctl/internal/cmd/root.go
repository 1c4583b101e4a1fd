// Package cmd is ctl's command tree: the root command, which wires one
// package per verb (or family of verbs) under cmd/, as kubectl's
// pkg/cmd/<verb> does. Each command's flags, messages and output shapes
// follow kubectl's. Where to find a command:
//
//	get                          cmd/get
//	describe                     cmd/describe
//	apply                        cmd/apply
//	create (and its subcommands) cmd/create
//	  (role, rolebinding, token, ...)
//	run                          cmd/run
//	expose                       cmd/expose
//	delete                       cmd/delete
//	scale                        cmd/scale
//	label, annotate              cmd/label
//	set image                    cmd/set
//	edit                         cmd/edit
//	logs                         cmd/logs
//	exec                         cmd/exec
//	auth can-i, auth whoami      cmd/auth
//	events                       cmd/events
//	cordon, uncordon, drain,     cmd/node
//	taint
//	certificate approve|deny     cmd/certificate
//	certs check-expiration|renew cmd/certs
//	token (create, list, ...)    cmd/token
//	join                         cmd/join
//	rollout (and subcommands)    cmd/rollout
//	version                      cmd/version
//	cluster-info                 cmd/clusterinfo
//	api-resources                cmd/apiresources
//	completion                   cmd/completion
//
// What several commands share lives in packages of its own beside cmd/:
// cmdenv (streams and clients), objects (-f manifests and TYPE NAME
// arguments), creator and dryrun (writing new objects), podselect,
// workload, complete, helptext; the logic that is more than wiring in
// printers, describe, apply, drain, rollout, manifest, resource,
// bootstraptoken (a token as its Secret) and discovery (how a joining
// node comes to trust the cluster).
package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/cmd/apiresources"
	"coracle.dev/ctl/internal/cmd/apply"
	"coracle.dev/ctl/internal/cmd/auth"
	"coracle.dev/ctl/internal/cmd/certificate"
	"coracle.dev/ctl/internal/cmd/certs"
	"coracle.dev/ctl/internal/cmd/clusterinfo"
	"coracle.dev/ctl/internal/cmd/completion"
	"coracle.dev/ctl/internal/cmd/create"
	"coracle.dev/ctl/internal/cmd/delete"
	"coracle.dev/ctl/internal/cmd/describe"
	"coracle.dev/ctl/internal/cmd/edit"
	"coracle.dev/ctl/internal/cmd/events"
	"coracle.dev/ctl/internal/cmd/exec"
	"coracle.dev/ctl/internal/cmd/expose"
	"coracle.dev/ctl/internal/cmd/get"
	"coracle.dev/ctl/internal/cmd/join"
	"coracle.dev/ctl/internal/cmd/label"
	"coracle.dev/ctl/internal/cmd/logs"
	"coracle.dev/ctl/internal/cmd/node"
	"coracle.dev/ctl/internal/cmd/rollout"
	"coracle.dev/ctl/internal/cmd/run"
	"coracle.dev/ctl/internal/cmd/scale"
	"coracle.dev/ctl/internal/cmd/set"
	"coracle.dev/ctl/internal/cmd/token"
	"coracle.dev/ctl/internal/cmd/version"
	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
)

// Execute runs ctl with args and returns its exit code: 0 on success, 1
// on an error (printed as kubectl prints it), or the remote command's
// status for exec.
func Execute(ctx context.Context, args []string, streams cmdenv.IO, getenv func(string) string) int {
	root := NewRoot(cmdenv.New(streams, getenv))
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil {
		// Interrupted (Ctrl-C ends a watch or a follow): no message.
		return 130
	}
	msg, code := cmderr.Format(err)
	if msg != "" {
		fmt.Fprint(streams.ErrOut, msg)
	}
	return code
}

// NewRoot builds the command tree.
func NewRoot(env *cmdenv.Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "ctl",
		Short: "ctl controls a Coracle (Kubernetes) cluster",
		Long: `ctl controls a Coracle cluster — or any Kubernetes cluster — the way kubectl does:
the same verbs, flags and output.

It finds its kubeconfig in --kubeconfig, then $KUBECONFIG, then
/etc/coracle/admin.conf, then ~/.kube/config.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	env.Flags.AddTo(root.PersistentFlags())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help' for usage.", err, c.CommandPath())
	})
	groups := []struct {
		id, title string
		cmds      []*cobra.Command
	}{
		{"basic", "Basic Commands (Beginner):", []*cobra.Command{
			create.New(env), expose.New(env), run.New(env), set.New(env),
		}},
		{"intermediate", "Basic Commands (Intermediate):", []*cobra.Command{
			get.New(env), edit.New(env), delete.New(env), events.New(env),
		}},
		{"deploy", "Deploy Commands:", []*cobra.Command{
			rollout.New(env), scale.New(env),
		}},
		{"cluster", "Cluster Management Commands:", []*cobra.Command{
			certificate.New(env), certs.New(env), clusterinfo.New(env), node.NewCordon(env), node.NewUncordon(env), node.NewDrain(env), node.NewTaint(env),
		}},
		{"nodes", "Node Join Commands (kubeadm's):", []*cobra.Command{
			token.New(env), join.New(env),
		}},
		{"troubleshoot", "Troubleshooting and Debugging Commands:", []*cobra.Command{
			describe.New(env), logs.New(env), exec.New(env), auth.New(env),
		}},
		{"advanced", "Advanced Commands:", []*cobra.Command{
			apply.New(env),
		}},
		{"settings", "Settings Commands:", []*cobra.Command{
			label.NewLabel(env), label.NewAnnotate(env), completion.New(env),
		}},
		{"other", "Other Commands:", []*cobra.Command{
			apiresources.New(env), version.New(env),
		}},
	}
	for _, g := range groups {
		root.AddGroup(&cobra.Group{ID: g.id, Title: g.title})
		for _, c := range g.cmds {
			c.GroupID = g.id
			root.AddCommand(c)
		}
	}
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("settings")
	return root
}
