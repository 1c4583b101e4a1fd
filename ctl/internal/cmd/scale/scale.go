// Package scale is `ctl scale`: a new size for deployments, replica sets
// and stateful sets, through their scale subresource, with optional
// preconditions.
package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/complete"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/resource"
)

type scaleOptions struct {
	env             *cmdenv.Env
	files           objects.Files
	replicas        int
	currentReplicas int
	resourceVersion string
	labels          string
	all             bool
	timeout         time.Duration
}

// New is the scale command.
func New(env *cmdenv.Env) *cobra.Command {
	o := &scaleOptions{env: env}
	cmd := &cobra.Command{
		Use:   "scale [--resource-version=version] [--current-replicas=count] --replicas=COUNT (-f FILENAME | TYPE NAME)",
		Short: "Set a new size for a deployment, replica set, or stateful set",
		Long: `Set a new size for a deployment, replica set, or stateful set, through its
scale subresource.

A precondition may be given: --current-replicas or --resource-version is
checked before the size is changed, and nothing is changed if it does not
hold.`,
		Example: helptext.Examples(`
# Scale a replica set named 'foo' to 3
ctl scale --replicas=3 rs/foo

# If the deployment named mysql's current size is 2, scale mysql to 3
ctl scale --current-replicas=2 --replicas=3 deployment/mysql

# Scale multiple stateful sets
ctl scale --replicas=5 sts/foo sts/bar`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.replicas < 0 {
				return cmderr.Usage(cmd.CommandPath(), "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			return o.run(cmd.Context(), args)
		},
		ValidArgsFunction: complete.Resources(env),
	}
	o.files.Add(cmd, "identifying the resource to set a new size")
	cmd.Flags().IntVar(&o.replicas, "replicas", -1, "The new desired number of replicas. Required.")
	cmd.Flags().IntVar(&o.currentReplicas, "current-replicas", -1, "Precondition for current size. Requires that the current size of the resource match this value in order to scale. -1 (default) for no condition.")
	cmd.Flags().StringVar(&o.resourceVersion, "resource-version", "", "Precondition for resource version. Requires that the current resource version match this value in order to scale.")
	cmd.Flags().StringVarP(&o.labels, "selector", "l", "", "Selector (label query) to filter on.")
	cmd.Flags().BoolVar(&o.all, "all", false, "Select all resources in the namespace of the specified resource types")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "The length of time to wait before giving up on a scale operation, zero means don't wait.")
	return cmd
}

func (o *scaleOptions) run(ctx context.Context, args []string) error {
	infos, err := objects.Select(ctx, o.env, objects.Selection{Args: args, Files: &o.files, Labels: o.labels, All: o.all})
	if err != nil && len(infos) == 0 {
		return err
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, info := range infos {
		if err := o.scale(ctx, info); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.env.Out, "%s scaled\n", info.Ref())
	}
	return utilerrors.NewAggregate(errs)
}

func (o *scaleOptions) readScale(ctx context.Context, info *resource.Info) (*autoscalingv1.Scale, error) {
	dyn, err := o.env.Dynamic()
	if err != nil {
		return nil, err
	}
	u, err := info.Client(dyn).Get(ctx, info.Name, metav1.GetOptions{}, "scale")
	if err != nil {
		return nil, err
	}
	var s autoscalingv1.Scale
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (o *scaleOptions) scale(ctx context.Context, info *resource.Info) error {
	spec := map[string]any{"replicas": o.replicas}
	patch := map[string]any{"spec": spec}
	if o.currentReplicas >= 0 || o.resourceVersion != "" {
		s, err := o.readScale(ctx, info)
		if err != nil {
			return err
		}
		if o.currentReplicas >= 0 && int(s.Spec.Replicas) != o.currentReplicas {
			return fmt.Errorf("Expected replicas to be %d, was %d", o.currentReplicas, s.Spec.Replicas)
		}
		if o.resourceVersion != "" && s.ResourceVersion != o.resourceVersion {
			return fmt.Errorf("Expected resource version to be %s, was %s", o.resourceVersion, s.ResourceVersion)
		}
		// The scale's version guards the write against a concurrent one.
		patch["metadata"] = map[string]any{"resourceVersion": s.ResourceVersion}
	}
	data, _ := json.Marshal(patch)
	if err := objects.Patch(ctx, o.env, info, types.MergePatchType, data, "scale"); err != nil {
		return err
	}
	if o.timeout <= 0 {
		return nil
	}
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, o.timeout, true, func(ctx context.Context) (bool, error) {
		s, err := o.readScale(ctx, info)
		if err != nil {
			return false, err
		}
		return int(s.Status.Replicas) == o.replicas, nil
	})
}
