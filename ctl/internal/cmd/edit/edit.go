// Package edit is `ctl edit`: an object opened as YAML in $EDITOR and the
// change sent back as a patch, reopened with the reason when the server
// refuses it.
package edit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"coracle.dev/ctl/internal/apply"
	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/complete"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/resource"
)

const editHeader = `# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
`

// New is the edit command.
func New(env *cmdenv.Env) *cobra.Command {
	var files objects.Files
	cmd := &cobra.Command{
		Use:   "edit (RESOURCE/NAME | -f FILENAME)",
		Short: "Edit a resource on the server",
		Long: `Edit a resource from the default editor.

The object is written as YAML to a temporary file and opened with $EDITOR
(vi when unset). When the editor exits, the changes are sent as a patch. A
change that does not parse, or that the server refuses, reopens the file with
the reason at the top; when it is saved unchanged again ctl gives up, keeps
your text in the temporary file and prints its path.`,
		Example: helptext.Examples(`
# Edit the service named 'registry'
ctl edit svc/registry

# Use an alternative editor
EDITOR="nano" ctl edit deploy/web`),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, err := objects.Select(cmd.Context(), env, objects.Selection{Args: args, Files: &files})
			if err != nil {
				return err
			}
			for _, info := range infos {
				if err := editOne(cmd.Context(), env, info); err != nil {
					return err
				}
			}
			return nil
		},
		ValidArgsFunction: complete.Resources(env),
	}
	files.Add(cmd, "to use to edit the resource")
	return cmd
}

// editor is the command line of $EDITOR (or $KUBE_EDITOR), vi by default.
func editor(env *cmdenv.Env) []string {
	for _, v := range []string{"KUBE_EDITOR", "EDITOR"} {
		if s := strings.TrimSpace(env.Getenv(v)); s != "" {
			return strings.Fields(s)
		}
	}
	return []string{"vi"}
}

func runEditor(env *cmdenv.Env, path string) error {
	argv := append(editor(env), path)
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, env.Out, env.ErrOut
	if err := c.Run(); err != nil {
		return fmt.Errorf("there was a problem with the editor %q: %w", strings.Join(editor(env), " "), err)
	}
	return nil
}

// stripComments drops the lines starting with '#'.
func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			continue
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\n"))
}

func editOne(ctx context.Context, env *cmdenv.Env, info *resource.Info) error {
	obj := info.Object.DeepCopy()
	unstructured.RemoveNestedField(obj.Object, "metadata", "managedFields")
	original, err := yaml.Marshal(obj.Object)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "ctl-edit-*.yaml")
	if err != nil {
		return err
	}
	path := f.Name()
	f.Close()
	text := append([]byte(editHeader), original...)
	var lastBroken []byte
	for {
		if err := os.WriteFile(path, text, 0o600); err != nil {
			return err
		}
		if err := runEditor(env, path); err != nil {
			return err
		}
		edited, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		body := stripComments(edited)
		if lastBroken != nil && bytes.Equal(body, lastBroken) {
			fmt.Fprintf(env.ErrOut, "A copy of your changes has been stored to %q\n", path)
			return fmt.Errorf("Edit cancelled, no valid changes were saved.")
		}
		if len(bytes.TrimSpace(body)) == 0 {
			os.Remove(path)
			fmt.Fprintln(env.Out, "Edit cancelled, saved file was empty.")
			return nil
		}
		if bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(original)) {
			os.Remove(path)
			fmt.Fprintln(env.Out, "Edit cancelled, no changes made.")
			return nil
		}
		reason := saveEdit(ctx, env, info, original, body)
		if reason == nil {
			os.Remove(path)
			fmt.Fprintf(env.Out, "%s edited\n", info.Ref())
			return nil
		}
		// Reopen with the reason on top and the user's text kept.
		lastBroken = body
		msg, _ := cmderr.Format(reason)
		var hdr strings.Builder
		hdr.WriteString(editHeader)
		hdr.WriteString(fmt.Sprintf("# %s was not valid:\n", info.Ref()))
		for _, l := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
			hdr.WriteString("# " + l + "\n")
		}
		hdr.WriteString("#\n")
		text = append([]byte(hdr.String()), body...)
	}
}

// saveEdit sends the edit as a patch; it returns why it was refused.
func saveEdit(ctx context.Context, env *cmdenv.Env, info *resource.Info, originalYAML, editedYAML []byte) error {
	edited, err := yaml.YAMLToJSON(editedYAML)
	if err != nil {
		return fmt.Errorf("error parsing edited file: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(edited); err != nil {
		return fmt.Errorf("error decoding edited object: %w", err)
	}
	if u.GetName() != info.Name || u.GetKind() != info.Object.GetKind() {
		return fmt.Errorf("at least one of apiVersion, kind and name was changed")
	}
	original, err := yaml.YAMLToJSON(originalYAML)
	if err != nil {
		return err
	}
	// Keep the last-applied record in step, as kubectl edit does.
	if _, ok := info.Object.GetAnnotations()[apply.LastApplied]; ok {
		if err := apply.Annotate(u); err == nil {
			edited, _ = u.MarshalJSON()
		}
	}
	var patch []byte
	pt := types.MergePatchType
	if typed, err := scheme.Scheme.New(u.GroupVersionKind()); err == nil {
		patch, err = strategicpatch.CreateTwoWayMergePatch(original, edited, typed)
		if err != nil {
			return err
		}
		pt = types.StrategicMergePatchType
	} else {
		patch, err = jsonmergepatch.CreateThreeWayJSONMergePatch(original, edited, original)
		if err != nil {
			return err
		}
	}
	if string(patch) == "{}" {
		return nil
	}
	err = objects.Patch(ctx, env, info, pt, patch)
	if apierrors.IsConflict(err) {
		return fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again")
	}
	return err
}
