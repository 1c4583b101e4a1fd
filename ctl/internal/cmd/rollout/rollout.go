// Package rollout is `ctl rollout` and its subcommands: status, history,
// undo, pause, resume and restart of a deployment's rollout (status also
// of stateful sets and daemon sets). What a rollout's state means is the
// rollout package beside cmd/.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/describe"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/objects"
	"coracle.dev/ctl/internal/resource"
	"coracle.dev/ctl/internal/rollout"
)

// New is the rollout command.
func New(env *cmdenv.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Manage the rollout of a resource",
		Long: `Manage the rollout of one or many resources.

Valid resource types include: deployments, daemonsets, statefulsets (status);
deployments (history, undo, pause, resume, restart).`,
		Example: helptext.Examples(`
# Rollback to the previous deployment
ctl rollout undo deployment/abc

# Check the rollout status of a deployment
ctl rollout status deployment/abc

# Restart a deployment
ctl rollout restart deployment/abc`),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRolloutStatus(env), newRolloutHistory(env), newRolloutUndo(env),
		newRolloutPause(env), newRolloutResume(env), newRolloutRestart(env))
	return cmd
}

// deployments reads the Deployments a rollout subcommand names.
func deployments(ctx context.Context, env *cmdenv.Env, args []string, files *objects.Files, selector string) ([]*resource.Info, []*appsv1.Deployment, error) {
	infos, err := objects.Select(ctx, env, objects.Selection{Args: args, Files: files, Labels: selector})
	var ds []*appsv1.Deployment
	var kept []*resource.Info
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, info := range infos {
		if info.Object.GetKind() != "Deployment" {
			errs = append(errs, fmt.Errorf("no rollout support for %s: only deployments are supported", info.Ref()))
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(info.Object.Object, &d); err != nil {
			errs = append(errs, err)
			continue
		}
		ds = append(ds, &d)
		kept = append(kept, info)
	}
	return kept, ds, utilerrors.NewAggregate(errs)
}

func newRolloutHistory(env *cmdenv.Env) *cobra.Command {
	var files objects.Files
	var revision int64
	var selector string
	cmd := &cobra.Command{
		Use:   "history (TYPE NAME | TYPE/NAME) [flags]",
		Short: "View rollout history",
		Example: helptext.Examples(`
# View the rollout history of a deployment
ctl rollout history deployment/abc

# View the details of deployment revision 3
ctl rollout history deployment/abc --revision=3`),
		RunE: func(cmd *cobra.Command, args []string) error {
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			infos, ds, err := deployments(cmd.Context(), env, args, &files, selector)
			if err != nil {
				return err
			}
			for i, d := range ds {
				rss, err := rollout.ReplicaSets(cmd.Context(), typed, d)
				if err != nil {
					return err
				}
				if err := rollout.History(env.Out, infos[i].Ref(), rss, revision, describe.PodTemplate); err != nil {
					return err
				}
			}
			return nil
		},
	}
	files.Add(cmd, "identifying the resource to get from a server.")
	cmd.Flags().Int64Var(&revision, "revision", 0, "See the details, including podTemplate of the revision specified")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on.")
	return cmd
}

func newRolloutUndo(env *cmdenv.Env) *cobra.Command {
	var files objects.Files
	var toRevision int64
	var selector string
	cmd := &cobra.Command{
		Use:   "undo (TYPE NAME | TYPE/NAME) [flags]",
		Short: "Undo a previous rollout",
		Long: `Roll back to a previous rollout: the pod template of the chosen revision's
replica set is copied into the deployment, which the controller then rolls
out as a new revision.`,
		Example: helptext.Examples(`
# Roll back to the previous deployment
ctl rollout undo deployment/abc

# Roll back to revision 3
ctl rollout undo deployment/abc --to-revision=3`),
		RunE: func(cmd *cobra.Command, args []string) error {
			typed, err := env.Typed()
			if err != nil {
				return err
			}
			infos, ds, err := deployments(cmd.Context(), env, args, &files, selector)
			if err != nil {
				return err
			}
			var errs []error
			for i, d := range ds {
				err := rollout.Undo(cmd.Context(), typed, d, toRevision)
				var skipped *rollout.ErrSkipped
				switch {
				case errors.As(err, &skipped):
					fmt.Fprintf(env.Out, "%s %s\n", infos[i].Ref(), skipped.Error())
				case err != nil:
					errs = append(errs, err)
				default:
					fmt.Fprintf(env.Out, "%s rolled back\n", infos[i].Ref())
				}
			}
			return utilerrors.NewAggregate(errs)
		},
	}
	files.Add(cmd, "identifying the resource to get from a server.")
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "The revision to rollback to. Default to 0 (last revision).")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on.")
	return cmd
}

// pauseCommand is pause or resume.
func pauseCommand(env *cmdenv.Env, use, short, verb string, pause bool, example string) *cobra.Command {
	var files objects.Files
	var selector string
	cmd := &cobra.Command{
		Use:     use + " RESOURCE",
		Short:   short,
		Example: example,
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, ds, err := deployments(cmd.Context(), env, args, &files, selector)
			if err != nil {
				return err
			}
			var errs []error
			for i, d := range ds {
				if d.Spec.Paused == pause {
					state := "already paused"
					if !pause {
						state = "not paused"
					}
					errs = append(errs, fmt.Errorf("%s is %s", infos[i].Quoted(), state))
					continue
				}
				patch := []byte(fmt.Sprintf(`{"spec":{"paused":%v}}`, pause))
				if !pause {
					patch = []byte(`{"spec":{"paused":null}}`)
				}
				if err := objects.Patch(cmd.Context(), env, infos[i], types.MergePatchType, patch); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(env.Out, "%s %s\n", infos[i].Ref(), verb)
			}
			return utilerrors.NewAggregate(errs)
		},
	}
	files.Add(cmd, "identifying the resource to get from a server.")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on.")
	return cmd
}

func newRolloutPause(env *cmdenv.Env) *cobra.Command {
	return pauseCommand(env, "pause", "Mark the provided resource as paused", "paused", true, helptext.Examples(`
# Mark the nginx deployment as paused; changes to its template do not roll out until it is resumed
ctl rollout pause deployment/nginx`))
}

func newRolloutResume(env *cmdenv.Env) *cobra.Command {
	return pauseCommand(env, "resume", "Resume a paused resource", "resumed", false, helptext.Examples(`
# Resume an already paused deployment
ctl rollout resume deployment/nginx`))
}

func newRolloutRestart(env *cmdenv.Env) *cobra.Command {
	var files objects.Files
	var selector string
	cmd := &cobra.Command{
		Use:   "restart RESOURCE",
		Short: "Restart a resource",
		Long:  "Restart a resource: its pod template gets the annotation kubectl.kubernetes.io/restartedAt, so every pod is replaced by a rolling update.",
		Example: helptext.Examples(`
# Restart a deployment
ctl rollout restart deployment/nginx

# Restart every deployment with a label
ctl rollout restart deployment -l app=web`),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, ds, err := deployments(cmd.Context(), env, args, &files, selector)
			if err != nil {
				return err
			}
			var errs []error
			for i, d := range ds {
				if d.Spec.Paused {
					errs = append(errs, fmt.Errorf("%s can't restart paused deployment (run rollout resume first)", infos[i].Quoted()))
					continue
				}
				if err := objects.Patch(cmd.Context(), env, infos[i], types.StrategicMergePatchType, rollout.RestartPatch(env.Now())); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(env.Out, "%s restarted\n", infos[i].Ref())
			}
			return utilerrors.NewAggregate(errs)
		},
	}
	files.Add(cmd, "identifying the resource to get from a server.")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Selector (label query) to filter on.")
	return cmd
}

func newRolloutStatus(env *cmdenv.Env) *cobra.Command {
	var files objects.Files
	var watchFlag bool
	var timeout time.Duration
	var revision int64
	cmd := &cobra.Command{
		Use:   "status (TYPE NAME | TYPE/NAME) [flags]",
		Short: "Show the status of the rollout",
		Long: `Show the status of the rollout.

By default it follows the rollout, printing each step as it happens, until it
completes (exit 0) or the deployment's progress deadline is exceeded (exit
1). --watch=false prints the current state once.`,
		Example: helptext.Examples(`
# Watch the rollout status of a deployment
ctl rollout status deployment/nginx

# Give up after two minutes
ctl rollout status deployment/nginx --timeout=2m`),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, err := objects.Select(cmd.Context(), env, objects.Selection{Args: args, Files: &files})
			if err != nil {
				return err
			}
			if len(infos) != 1 {
				return fmt.Errorf("rollout status is only supported on individual resources and resource collections, but %d resources were found", len(infos))
			}
			return followStatus(cmd.Context(), env, infos[0], watchFlag, timeout, revision)
		},
	}
	files.Add(cmd, "identifying the resource to get from a server.")
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", true, "Watch the status of the rollout until it's done.")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "The length of time to wait before ending watch, zero means never. Any other values should contain a corresponding time unit (e.g. 1s, 2m, 3h).")
	cmd.Flags().Int64Var(&revision, "revision", 0, "Pin to a specific revision for showing its status. Defaults to 0 (last revision).")
	return cmd
}

func statusOf(obj *unstructured.Unstructured, revision int64) (string, bool, error) {
	switch obj.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			return "", false, err
		}
		if revision > 0 && rollout.Revision(&d) != revision {
			return "", false, fmt.Errorf("desired revision (%d) is different from the running revision (%d)", revision, rollout.Revision(&d))
		}
		return rollout.DeploymentStatus(&d)
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &s); err != nil {
			return "", false, err
		}
		return rollout.StatefulSetStatus(&s)
	case "DaemonSet":
		var d appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			return "", false, err
		}
		return rollout.DaemonSetStatus(&d)
	}
	return "", false, fmt.Errorf("no status viewer has been implemented for %s", obj.GetKind())
}

// followStatus prints the rollout's state each time it changes until it
// is done, failed, or the timeout passes.
func followStatus(ctx context.Context, env *cmdenv.Env, info *resource.Info, follow bool, timeout time.Duration, revision int64) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	dyn, err := env.Dynamic()
	if err != nil {
		return err
	}
	client := info.Client(dyn)
	last := ""
	show := func(obj *unstructured.Unstructured) (bool, error) {
		msg, done, err := statusOf(obj, revision)
		if err != nil {
			return false, err
		}
		if msg != last {
			fmt.Fprintln(env.Out, msg)
			last = msg
		}
		return done, nil
	}
	obj := info.Object
	for {
		done, err := show(obj)
		if err != nil || done || !follow {
			return err
		}
		w, err := client.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", info.Name).String(),
			ResourceVersion: obj.GetResourceVersion(),
		})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out waiting for the condition")
			}
			return err
		}
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type == watch.Bookmark {
				continue
			}
			if ev.Type == watch.Deleted {
				w.Stop()
				return fmt.Errorf("object has been deleted")
			}
			obj = u
			done, err := show(obj)
			if err != nil || done {
				w.Stop()
				return err
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("timed out waiting for the condition")
		}
		// The watch ended; read again and go on.
		if obj, err = client.Get(ctx, info.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}
