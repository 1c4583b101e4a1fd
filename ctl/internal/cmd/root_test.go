package cmd

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/config"
)

func testEnv() *cmdenv.Env {
	var out bytes.Buffer
	env := &cmdenv.Env{IO: cmdenv.IO{In: strings.NewReader(""), Out: &out, ErrOut: &out}, Flags: &config.Flags{}, Getenv: func(string) string { return "" }}
	env.Clients = config.NewClients(env.Flags)
	return env
}

// Every command a person can run says what it does and shows examples.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || strings.HasPrefix(c.Name(), "__") {
			return
		}
		if c.Short == "" {
			t.Errorf("%s has no short description", c.CommandPath())
		}
		if c.Runnable() && c.Example == "" && c.Name() != "ctl" {
			t.Errorf("%s has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := NewRoot(testEnv())
	walk(root)
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
	}
	for _, want := range []string{"get", "describe", "apply", "create", "run", "expose", "delete", "scale", "label", "annotate", "set", "edit",
		"logs", "exec", "events", "cordon", "uncordon", "drain", "taint", "version", "cluster-info", "api-resources", "completion", "rollout",
		"certificate", "certs", "token", "join", "auth"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s command", want)
		}
	}
}

func TestUsageErrorsNameTheHelp(t *testing.T) {
	env := testEnv()
	root := NewRoot(env)
	root.SetArgs([]string{"scale", "deploy/web"})
	root.SetOut(env.Out)
	root.SetErr(env.ErrOut)
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "See 'ctl scale -h' for help and examples") {
		t.Fatalf("got %v", err)
	}
}

// --as, --as-group and --as-uid are global, as kubectl's: every command
// can impersonate.
func TestImpersonationFlagsAreGlobal(t *testing.T) {
	root := NewRoot(testEnv())
	for _, name := range []string{"as", "as-group", "as-uid"} {
		if root.PersistentFlags().Lookup(name) == nil {
			t.Errorf("no global --%s", name)
		}
	}
}
