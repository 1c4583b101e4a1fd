package commands

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"coracle.dev/ctl/internal/config"
)

func testEnv() *Env {
	var out bytes.Buffer
	env := &Env{IO: IO{In: strings.NewReader(""), Out: &out, ErrOut: &out}, Flags: &config.Flags{}, Getenv: func(string) string { return "" }}
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
		"logs", "exec", "events", "cordon", "uncordon", "drain", "taint", "version", "cluster-info", "api-resources", "completion", "rollout"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s command", want)
		}
	}
}

func TestParseChanges(t *testing.T) {
	res, set, remove, err := parseChanges([]string{"pods", "web", "app=v", "tier-", "x=y"}, "labels")
	if err != nil || !slices.Equal(res, []string{"pods", "web"}) || set["app"] != "v" || set["x"] != "y" || !slices.Equal(remove, []string{"tier"}) {
		t.Fatalf("got %v %v %v %v", res, set, remove, err)
	}
	if _, _, _, err := parseChanges([]string{"pods", "a=b", "web"}, "labels"); err == nil {
		t.Error("a resource after a change was accepted")
	}
	if _, _, _, err := parseChanges([]string{"pods", "web", "bad key=v"}, "labels"); err == nil {
		t.Error("an invalid key was accepted")
	}
}

func TestTaints(t *testing.T) {
	existing := []corev1.Taint{{Key: "a", Value: "1", Effect: corev1.TaintEffectNoSchedule}, {Key: "b", Effect: corev1.TaintEffectNoExecute}}
	parse := func(specs ...string) []taintChange {
		var out []taintChange
		for _, s := range specs {
			tc, err := parseTaint(s)
			if err != nil {
				t.Fatalf("parseTaint(%q): %v", s, err)
			}
			out = append(out, tc)
		}
		return out
	}
	cases := []struct {
		name      string
		changes   []taintChange
		overwrite bool
		wantVerb  string
		wantKeys  string
		wantErr   string
	}{
		{"add", parse("c=3:PreferNoSchedule"), false, "tainted", "a=1:NoSchedule,b:NoExecute,c=3:PreferNoSchedule", ""},
		{"remove by key and effect", parse("a:NoSchedule-"), false, "untainted", "b:NoExecute", ""},
		{"remove by key", parse("b-"), false, "untainted", "a=1:NoSchedule", ""},
		{"overwrite", parse("a=2:NoSchedule"), true, "modified", "a=2:NoSchedule,b:NoExecute", ""},
		{"refuse to overwrite", parse("a=2:NoSchedule"), false, "", "", "node n already has a taint(s) with same effect(s) and --overwrite is false"},
		{"remove a missing taint", parse("z-"), false, "", "", `taint "z" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, verb, err := applyTaints(existing, tc.changes, tc.overwrite, "n")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			var keys []string
			for _, tt := range got {
				keys = append(keys, tt.ToString())
			}
			if err != nil || verb != tc.wantVerb || strings.Join(keys, ",") != tc.wantKeys {
				t.Errorf("got %s %v %v, want %s %s", verb, keys, err, tc.wantVerb, tc.wantKeys)
			}
		})
	}
	for _, bad := range []string{"a=b", "a=b:Sometimes", "bad key=v:NoSchedule"} {
		if _, err := parseTaint(bad); err == nil {
			t.Errorf("parseTaint(%q) accepted", bad)
		}
	}
}

func TestContainerName(t *testing.T) {
	for image, want := range map[string]string{
		"busybox":                               "busybox",
		"busybox:1.36":                          "busybox",
		"registry.local:5000/library/nginx:1.2": "nginx",
		"ghcr.io/org/app@sha256:abc":            "app",
	} {
		if got := containerName(image); got != want {
			t.Errorf("containerName(%q) = %q, want %q", image, got, want)
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
