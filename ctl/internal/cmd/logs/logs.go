// Package logs is `ctl logs`: a container's log, of a pod, of the first
// pod of a workload, or of every pod a selector matches, followed with -f.
package logs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/podselect"
	"coracle.dev/ctl/internal/printers"
)

type logsOptions struct {
	env           *cmdenv.Env
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

// New is the logs command.
func New(env *cmdenv.Env) *cobra.Command {
	o := &logsOptions{env: env}
	cmd := &cobra.Command{
		Use:   "logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]",
		Short: "Print the logs for a container in a pod",
		Long:  "Print the logs for a container in a pod or specified resource. If the pod has only one container, the container name is optional.",
		Example: helptext.Examples(`
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
	typed, err := o.env.Typed()
	if err != nil {
		return err
	}
	var pods []corev1.Pod
	switch {
	case o.selector != "":
		if len(args) > 0 {
			return cmderr.Usage(cmd.CommandPath(), "only a selector (-l) or a POD name is allowed")
		}
		ns, _, err := o.env.Namespace()
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
			fmt.Fprintln(o.env.ErrOut, printers.NoResources(ns, false, true))
			return nil
		}
	case len(args) == 1:
		pod, err := podselect.Pod(ctx, o.env, args[0])
		if err != nil {
			return err
		}
		pods = []corev1.Pod{*pod}
	case len(args) == 2 && o.container == "":
		pod, err := podselect.Pod(ctx, o.env, args[0])
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
		c, err := podselect.Container(o.env, p, o.container)
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
