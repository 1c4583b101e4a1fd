// Package commands is ctl's command tree: one file per verb, each a cobra
// command whose flags, messages and output shapes follow kubectl's. The
// logic that is more than wiring lives in its own package (printers,
// describe, apply, drain, rollout, manifest, resource).
package commands

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/config"
	"coracle.dev/ctl/internal/resource"
)

// IO are the standard streams of one invocation.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Env is what every command shares: the streams, the connection flags and
// the clients built from them, and the clock.
type Env struct {
	IO
	Flags   *config.Flags
	Clients *config.Clients
	Now     func() time.Time
	// Getenv reads the environment ($EDITOR, $KUBECONFIG).
	Getenv func(string) string
}

// Execute runs ctl with args and returns its exit code: 0 on success, 1
// on an error (printed as kubectl prints it), or the remote command's
// status for exec.
func Execute(ctx context.Context, args []string, streams IO, getenv func(string) string) int {
	env := &Env{IO: streams, Flags: &config.Flags{Env: getenv}, Now: time.Now, Getenv: getenv}
	env.Clients = config.NewClients(env.Flags)
	root := NewRoot(env)
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
func NewRoot(env *Env) *cobra.Command {
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
			newCreate(env), newExpose(env), newRun(env), newSet(env),
		}},
		{"intermediate", "Basic Commands (Intermediate):", []*cobra.Command{
			newGet(env), newEdit(env), newDelete(env), newEvents(env),
		}},
		{"deploy", "Deploy Commands:", []*cobra.Command{
			newRollout(env), newScale(env),
		}},
		{"cluster", "Cluster Management Commands:", []*cobra.Command{
			newClusterInfo(env), newCordon(env), newUncordon(env), newDrain(env), newTaint(env),
		}},
		{"troubleshoot", "Troubleshooting and Debugging Commands:", []*cobra.Command{
			newDescribe(env), newLogs(env), newExec(env),
		}},
		{"advanced", "Advanced Commands:", []*cobra.Command{
			newApply(env),
		}},
		{"settings", "Settings Commands:", []*cobra.Command{
			newLabel(env), newAnnotate(env), newCompletion(env),
		}},
		{"other", "Other Commands:", []*cobra.Command{
			newAPIResources(env), newVersion(env),
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

// examples indents an example block as kubectl's help shows it.
func examples(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + strings.TrimLeft(l, "\t")
		}
	}
	return strings.Join(lines, "\n")
}

// namespace is the request's namespace and whether -n chose it.
func (e *Env) namespace() (string, bool, error) { return e.Clients.Namespace() }

func (e *Env) resolver() (*resource.Resolver, error) {
	m, err := e.Clients.Mapper()
	if err != nil {
		return nil, err
	}
	d, err := e.Clients.Discovery()
	if err != nil {
		return nil, err
	}
	return &resource.Resolver{Mapper: m, Discovery: d}, nil
}

func (e *Env) dynamic() (dynamic.Interface, error) { return e.Clients.Dynamic() }

func (e *Env) typed() (kubernetes.Interface, error) { return e.Clients.Typed() }

func (e *Env) rest() (*rest.Config, error) { return e.Clients.REST() }

func (e *Env) raw() (*resource.Raw, error) {
	cfg, err := e.Clients.REST()
	if err != nil {
		return nil, err
	}
	return resource.NewRaw(cfg)
}

// noResources is kubectl's message for an empty result.
func noResources(ns string, allNamespaces, namespaced bool) string {
	if allNamespaces || !namespaced || ns == "" {
		return "No resources found"
	}
	return fmt.Sprintf("No resources found in %s namespace.", ns)
}
