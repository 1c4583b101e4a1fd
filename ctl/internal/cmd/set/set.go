// Package set is `ctl set`: its subcommand image updates the container
// images of pods and pod templates.
package set

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/resource"
	"coracle.dev/ctl/internal/workload"
)

// New is the set command.
func New(env *cmdenv.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set SUBCOMMAND",
		Short: "Set specific features on objects",
		Long:  "Configure application resources.\n\nThese commands help you make changes to existing application resources.",
		Example: helptext.Examples(`
# Set a deployment's web container image to busybox:1.36
ctl set image deployment/web web=busybox:1.36`),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSetImage(env))
	return cmd
}

// nestPatch wraps value in the maps of path.
func nestPatch(path []string, value map[string]any) map[string]any {
	out := value
	for i := len(path) - 1; i >= 0; i-- {
		out = map[string]any{path[i]: out}
	}
	return out
}

func newSetImage(env *cmdenv.Env) *cobra.Command {
	var files objects.Files
	var labels string
	var all bool
	cmd := &cobra.Command{
		Use:   "image (-f FILENAME | TYPE NAME) CONTAINER_NAME_1=CONTAINER_IMAGE_1 ... CONTAINER_NAME_N=CONTAINER_IMAGE_N",
		Short: "Update the image of a pod template",
		Long: `Update existing container image(s) of resources.

Possible resources include (case insensitive): pod (po), replicationcontroller
(rc), deployment (deploy), daemonset (ds), statefulset (sts), cronjob (cj),
replicaset (rs). "*" stands for every container.`,
		Example: helptext.Examples(`
# Set a deployment's nginx container image to 'nginx:1.9.1', and its busybox container image to 'busybox'
ctl set image deployment/nginx busybox=busybox nginx=nginx:1.9.1

# Update all deployments' and rc's nginx container's image to 'nginx:1.9.1'
ctl set image deployments,rc nginx=nginx:1.9.1 --all

# Update image of all containers of daemonset abc to 'nginx:1.9.1'
ctl set image daemonset abc *=nginx:1.9.1`),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resources []string
			images := map[string]string{}
			var order []string
			for _, a := range args {
				if k, v, ok := strings.Cut(a, "="); ok {
					images[k] = v
					order = append(order, k)
					continue
				}
				if len(images) > 0 {
					return fmt.Errorf("all resources must be specified before image changes: %s", a)
				}
				resources = append(resources, a)
			}
			if len(images) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "at least one image update is required")
			}
			infos, err := objects.Select(cmd.Context(), env, objects.Selection{Args: resources, Files: &files, Labels: labels, All: all})
			if err != nil && len(infos) == 0 {
				return err
			}
			var errs []error
			if err != nil {
				errs = append(errs, err)
			}
			for _, info := range infos {
				changed, err := setImages(cmd.Context(), env, info, images, order)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if changed {
					fmt.Fprintf(env.Out, "%s image updated\n", info.Ref())
				}
			}
			return utilerrors.NewAggregate(errs)
		},
	}
	files.Add(cmd, "identifying the resource to get from a server.")
	cmd.Flags().StringVarP(&labels, "selector", "l", "", "Selector (label query) to filter on.")
	cmd.Flags().BoolVar(&all, "all", false, "Select all resources, in the namespace of the specified resource types")
	return cmd
}

// setImages patches the images of the named containers (init containers
// included); it reports whether anything changed.
func setImages(ctx context.Context, env *cmdenv.Env, info *resource.Info, images map[string]string, order []string) (bool, error) {
	path, ok := workload.PodSpecPath(info.Object.GetKind())
	if !ok {
		return false, fmt.Errorf("error: %s is not a kind with a pod template", info.Ref())
	}
	spec, _, _ := unstructured.NestedMap(info.Object.Object, path...)
	patchSpec := map[string]any{}
	changed := false
	for _, k := range order {
		found := false
		for _, field := range []string{"initContainers", "containers"} {
			list, _ := spec[field].([]any)
			var patched []any
			for _, c := range list {
				cm, _ := c.(map[string]any)
				name, _ := cm["name"].(string)
				if k == "*" || k == name {
					found = true
					patched = append(patched, map[string]any{"name": name, "image": images[k]})
					if cm["image"] != images[k] {
						changed = true
					}
				}
			}
			if len(patched) > 0 {
				prev, _ := patchSpec[field].([]any)
				patchSpec[field] = append(prev, patched...)
			}
		}
		if !found {
			return false, fmt.Errorf("unable to find container named %q", k)
		}
	}
	if !changed {
		return false, nil
	}
	data, _ := json.Marshal(nestPatch(path, patchSpec))
	return true, objects.Patch(ctx, env, info, types.StrategicMergePatchType, data)
}
