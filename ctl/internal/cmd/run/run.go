// Package run is `ctl run`: one pod running an image, labelled
// run=NAME.
package run

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/creator"
	"coracle.dev/ctl/internal/helptext"
)

// New is the run command.
func New(env *cmdenv.Env) *cobra.Command {
	var w creator.Flags
	var image, restart, labelSpec, pullPolicy, sa string
	var envs, requests, limits, annotations []string
	var port int32
	var command bool
	cmd := &cobra.Command{
		Use:   "run NAME --image=image [--env=\"key=value\"] [--port=port] [--restart=Always|OnFailure|Never] [--dry-run=server|client] [--command] -- [COMMAND] [args...]",
		Short: "Run a particular image on the cluster",
		Long: `Create and run a particular image in a pod.

The pod is labelled run=NAME. Arguments after "--" are the container's
arguments, or its command with --command.`,
		Example: helptext.Examples(`
# Start a busybox pod
ctl run box --image=busybox -- sleep 3600

# Start a pod and let the container expose port 80
ctl run web --image=nginx --port=80

# Start a pod with environment variables
ctl run web --image=nginx --env="DNS_DOMAIN=cluster" --env="POD_NAMESPACE=default"

# Start a pod that runs once, with a command of your own
ctl run once --image=busybox --restart=Never --command -- sh -c 'echo hello'`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "NAME is required for run")
			}
			name := args[0]
			if dash := cmd.ArgsLenAtDash(); dash > 1 || (dash < 0 && len(args) > 1) {
				return cmderr.Usage(cmd.CommandPath(), "unexpected arguments after NAME: %s (use -- before the container's command)", strings.Join(args[1:], " "))
			}
			if image == "" {
				return errors.New("--image is required")
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"run": name}}}
			if labelSpec != "" {
				set, err := labels.ConvertSelectorToLabelsMap(labelSpec)
				if err != nil {
					return fmt.Errorf("invalid label spec: %w", err)
				}
				pod.Labels = set
			}
			for _, a := range annotations {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("invalid annotation spec: %s", a)
				}
				if pod.Annotations == nil {
					pod.Annotations = map[string]string{}
				}
				pod.Annotations[k] = v
			}
			c := corev1.Container{Name: name, Image: image, ImagePullPolicy: corev1.PullPolicy(pullPolicy)}
			if rest := args[1:]; len(rest) > 0 {
				if command {
					c.Command = rest
				} else {
					c.Args = rest
				}
			}
			for _, e := range envs {
				k, v, ok := strings.Cut(e, "=")
				if !ok {
					return fmt.Errorf("invalid env: %s", e)
				}
				c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
			}
			if port > 0 {
				c.Ports = []corev1.ContainerPort{{ContainerPort: port}}
			}
			var err error
			if c.Resources.Requests, err = resourceList(requests); err != nil {
				return err
			}
			if c.Resources.Limits, err = resourceList(limits); err != nil {
				return err
			}
			pod.Spec.Containers = []corev1.Container{c}
			pod.Spec.ServiceAccountName = sa
			switch restart {
			case "Always", "OnFailure", "Never":
				pod.Spec.RestartPolicy = corev1.RestartPolicy(restart)
			default:
				return fmt.Errorf("invalid restart policy: %s", restart)
			}
			return creator.InNamespace(cmd.Context(), env, &w, pod)
		},
	}
	f := cmd.Flags()
	f.StringVar(&image, "image", "", "The image for the container to run.")
	f.StringArrayVar(&envs, "env", nil, "Environment variables to set in the container.")
	f.Int32Var(&port, "port", -1, "The port that this container exposes.")
	f.StringVar(&restart, "restart", "Always", "The restart policy for this Pod.  Legal values [Always, OnFailure, Never].")
	f.StringVarP(&labelSpec, "labels", "l", "", "Comma separated labels to apply to the pod. Will override previous values.")
	f.StringArrayVar(&annotations, "annotations", nil, "Annotations to apply to the pod.")
	f.BoolVar(&command, "command", false, "If true and extra arguments are present, use them as the 'command' field in the container, rather than the 'args' field which is the default.")
	f.StringVar(&pullPolicy, "image-pull-policy", "", "The image pull policy for the container. If left empty, this value will not be specified by the client and defaulted by the server.")
	f.StringVar(&sa, "serviceaccount", "", "Service account to set in the pod spec.")
	f.StringSliceVar(&requests, "requests", nil, "The resource requirement requests for this container, e.g. cpu=100m,memory=256Mi.")
	f.StringSliceVar(&limits, "limits", nil, "The resource requirement limits for this container, e.g. cpu=200m,memory=512Mi.")
	w.Add(cmd)
	return cmd
}

func resourceList(specs []string) (corev1.ResourceList, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("invalid resource spec: %s", s)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("invalid resource quantity %s: %w", s, err)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}
