package commands

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"coracle.dev/ctl/internal/cmderr"
)

// defaultContainerAnnotation names the container commands pick when none
// is given.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// podFor resolves POD or TYPE/NAME (a deployment, replica set, stateful
// set, daemon set, job or service) to one pod, as kubectl's logs and exec
// do: the first of the workload's pods.
func podFor(ctx context.Context, env *Env, arg string) (*corev1.Pod, error) {
	ns, _, err := env.namespace()
	if err != nil {
		return nil, err
	}
	typed, err := env.typed()
	if err != nil {
		return nil, err
	}
	if !strings.Contains(arg, "/") {
		return typed.CoreV1().Pods(ns).Get(ctx, arg, metav1.GetOptions{})
	}
	infos, err := env.objects(ctx, selection{args: []string{arg}})
	if err != nil {
		return nil, err
	}
	obj := infos[0].Object
	if obj.GetKind() == "Pod" {
		return typed.CoreV1().Pods(ns).Get(ctx, obj.GetName(), metav1.GetOptions{})
	}
	sel, err := podSelectorOf(obj)
	if err != nil {
		return nil, err
	}
	list, err := typed.CoreV1().Pods(obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("timed out waiting for the condition")
	}
	pods := list.Items
	sort.SliceStable(pods, func(i, j int) bool { return podRank(&pods[i]) < podRank(&pods[j]) })
	if len(pods) > 1 {
		fmt.Fprintf(env.ErrOut, "Found %d pods, using pod/%s\n", len(pods), pods[0].Name)
	}
	return &pods[0], nil
}

// podRank prefers running, ready, older pods.
func podRank(p *corev1.Pod) int {
	switch p.Status.Phase {
	case corev1.PodRunning:
		return 0
	case corev1.PodPending:
		return 1
	}
	return 2
}

func podSelectorOf(obj *unstructured.Unstructured) (string, error) {
	if obj.GetKind() == "Service" {
		m, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector")
		return labels.SelectorFromSet(m).String(), nil
	}
	sel, err := selectorOf(obj)
	if err != nil {
		if obj.GetKind() == "Job" {
			m, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
			return labels.SelectorFromSet(m).String(), nil
		}
		return "", fmt.Errorf("cannot get the logs from %s", obj.GetKind())
	}
	return sel, nil
}

// containerOf picks the container: the one named, the default-container
// annotation's, or the first (saying so when there are several).
func containerOf(env *Env, pod *corev1.Pod, name string) (string, error) {
	if name != "" {
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if c.Name == name {
				return name, nil
			}
		}
		return "", fmt.Errorf("container %s is not valid for pod %s", name, pod.Name)
	}
	if d := pod.Annotations[defaultContainerAnnotation]; d != "" {
		return d, nil
	}
	if len(pod.Spec.Containers) > 1 {
		var names []string
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		fmt.Fprintf(env.ErrOut, "Defaulted container %q out of: %s\n", names[0], strings.Join(names, ", "))
	}
	return pod.Spec.Containers[0].Name, nil
}

type logsOptions struct {
	env           *Env
	container     string
	follow        bool
	previous      bool
	tail          int64
	since         time.Duration
	sinceTime     string
	timestamps    bool
	allContainers bool
	prefix        bool
	selector      string
	limitBytes    int64
}

func newLogs(env *Env) *cobra.Command {
	o := &logsOptions{env: env}
	cmd := &cobra.Command{
		Use:   "logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]",
		Short: "Print the logs for a container in a pod",
		Long:  "Print the logs for a container in a pod or specified resource. If the pod has only one container, the container name is optional.",
		Example: examples(`
# Return snapshot logs from pod nginx with only one container
ctl logs nginx

# Return snapshot logs from all containers of pod nginx
ctl logs nginx --all-containers=true

# Return snapshot logs of the previous terminated ruby container of pod web-1
ctl logs -p -c ruby web-1

# Begin streaming the logs of the ruby container in pod web-1
ctl logs -f -c ruby web-1

# Show the most recent 20 lines of output, with timestamps
ctl logs --tail=20 --timestamps nginx

# Show all logs from pod nginx written in the last hour
ctl logs --since=1h nginx

# Return snapshot logs from the first pod of a deployment
ctl logs deployment/nginx`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "Print the logs of this container")
	f.BoolVarP(&o.follow, "follow", "f", false, "Specify if the logs should be streamed.")
	f.BoolVarP(&o.previous, "previous", "p", false, "If true, print the logs for the previous instance of the container in a pod if it exists.")
	f.Int64Var(&o.tail, "tail", -1, "Lines of recent log file to display. Defaults to -1 with no selector, showing all log lines otherwise 10, if a selector is provided.")
	f.DurationVar(&o.since, "since", 0, "Only return logs newer than a relative duration like 5s, 2m, or 3h. Defaults to all logs. Only one of since-time / since may be used.")
	f.StringVar(&o.sinceTime, "since-time", "", "Only return logs after a specific date (RFC3339). Defaults to all logs. Only one of since-time / since may be used.")
	f.BoolVar(&o.timestamps, "timestamps", false, "Include timestamps on each line in the log output")
	f.BoolVar(&o.allContainers, "all-containers", false, "Get all containers' logs in the pod(s).")
	f.BoolVar(&o.prefix, "prefix", false, "Prefix each log line with the log source (pod name and container name)")
	f.StringVarP(&o.selector, "selector", "l", "", "Selector (label query) to filter on.")
	f.Int64Var(&o.limitBytes, "limit-bytes", 0, "Maximum bytes of logs to return. Defaults to no limit.")
	return cmd
}

func (o *logsOptions) run(ctx context.Context, cmd *cobra.Command, args []string) error {
	if o.since != 0 && o.sinceTime != "" {
		return cmderr.Usage(cmd.CommandPath(), "at most one of `sinceTime` or `sinceSeconds` may be specified")
	}
	typed, err := o.env.typed()
	if err != nil {
		return err
	}
	var pods []corev1.Pod
	switch {
	case o.selector != "":
		if len(args) > 0 {
			return cmderr.Usage(cmd.CommandPath(), "only a selector (-l) or a POD name is allowed")
		}
		ns, _, err := o.env.namespace()
		if err != nil {
			return err
		}
		list, err := typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: o.selector})
		if err != nil {
			return err
		}
		pods = list.Items
		if o.tail < 0 {
			o.tail = 10
		}
		if len(pods) == 0 {
			fmt.Fprintln(o.env.ErrOut, noResources(ns, false, true))
			return nil
		}
	case len(args) == 1:
		pod, err := podFor(ctx, o.env, args[0])
		if err != nil {
			return err
		}
		pods = []corev1.Pod{*pod}
	case len(args) == 2 && o.container == "":
		pod, err := podFor(ctx, o.env, args[0])
		if err != nil {
			return err
		}
		pods, o.container = []corev1.Pod{*pod}, args[1]
	default:
		return cmderr.Usage(cmd.CommandPath(), "expected POD_NAME or TYPE/NAME")
	}
	type source struct {
		pod       *corev1.Pod
		container string
	}
	var sources []source
	for i := range pods {
		p := &pods[i]
		if o.allContainers {
			for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
				sources = append(sources, source{p, c.Name})
			}
			continue
		}
		c, err := containerOf(o.env, p, o.container)
		if err != nil {
			return err
		}
		sources = append(sources, source{p, c})
	}
	prefix := o.prefix || len(sources) > 1 && o.selector != ""
	var mu sync.Mutex // guards writes to Out across sources
	stream := func(s source) error {
		opts := o.podLogOptions(s.container)
		rc, err := typed.CoreV1().Pods(s.pod.Namespace).GetLogs(s.pod.Name, opts).Stream(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		return copyLines(o.env.Out, rc, &mu, prefix, fmt.Sprintf("[pod/%s/%s] ", s.pod.Name, s.container))
	}
	if !o.follow || len(sources) == 1 {
		var errs []error
		for _, s := range sources {
			if err := stream(s); err != nil {
				errs = append(errs, err)
			}
		}
		return utilerrors.NewAggregate(errs)
	}
	// Several followed streams interleave by line.
	errc := make(chan error, len(sources))
	for _, s := range sources {
		go func(s source) { errc <- stream(s) }(s)
	}
	var errs []error
	for range sources {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}

func (o *logsOptions) podLogOptions(container string) *corev1.PodLogOptions {
	opts := &corev1.PodLogOptions{Container: container, Follow: o.follow, Previous: o.previous, Timestamps: o.timestamps}
	if o.tail >= 0 {
		opts.TailLines = &o.tail
	}
	if o.since > 0 {
		s := int64(o.since.Round(time.Second).Seconds())
		opts.SinceSeconds = &s
	}
	if o.sinceTime != "" {
		if t, err := time.Parse(time.RFC3339, o.sinceTime); err == nil {
			mt := metav1.NewTime(t)
			opts.SinceTime = &mt
		}
	}
	if o.limitBytes > 0 {
		opts.LimitBytes = &o.limitBytes
	}
	return opts
}

func copyLines(out io.Writer, in io.Reader, mu *sync.Mutex, prefix bool, tag string) error {
	r := bufio.NewReader(in)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			mu.Lock()
			if prefix {
				io.WriteString(out, tag)
			}
			io.WriteString(out, line)
			mu.Unlock()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
