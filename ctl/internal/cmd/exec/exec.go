// Package exec is `ctl exec`: a command run in a container, with its
// streams (and a terminal with -t) attached; ctl exits with its status.
package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/cmderr"
	"coracle.dev/ctl/internal/helptext"
	"coracle.dev/ctl/internal/podselect"
)

type execOptions struct {
	env       *cmdenv.Env
	container string
	stdin     bool
	tty       bool
	quiet     bool
}

// New is the exec command.
func New(env *cmdenv.Env) *cobra.Command {
	o := &execOptions{env: env}
	cmd := &cobra.Command{
		Use:   "exec (POD | TYPE/NAME) [-c CONTAINER] [flags] -- COMMAND [args...]",
		Short: "Execute a command in a container",
		Long: `Execute a command in a container.

With -i the standard input is passed to the command; with -t it runs in a
terminal (raw mode, following the window's size). ctl exits with the
command's exit code.`,
		Example: helptext.Examples(`
# Get output from running the 'date' command from pod mypod, using the first container by default
ctl exec mypod -- date

# Get output from running the 'date' command in ruby-container from pod mypod
ctl exec mypod -c ruby-container -- date

# Switch to raw terminal mode; sends stdin to 'bash' in ruby-container from pod mypod
ctl exec mypod -c ruby-container -i -t -- bash -il

# Run a command in the first pod of a deployment
ctl exec deploy/mydeployment -- date`),
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if len(args) == 0 {
				return cmderr.Usage(cmd.CommandPath(), "you must specify at least one command for the container")
			}
			if dash < 0 {
				return cmderr.Usage(cmd.CommandPath(), "exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead")
			}
			if dash != 1 || len(args) < 2 {
				return cmderr.Usage(cmd.CommandPath(), "expected POD -- COMMAND [args...]")
			}
			return o.run(cmd.Context(), args[0], args[1:])
		},
	}
	cmd.Flags().StringVarP(&o.container, "container", "c", "", "Container name. If omitted, use the kubectl.kubernetes.io/default-container annotation for selecting the container to be attached or the first container in the pod will be chosen")
	cmd.Flags().BoolVarP(&o.stdin, "stdin", "i", false, "Pass stdin to the container")
	cmd.Flags().BoolVarP(&o.tty, "tty", "t", false, "Stdin is a TTY")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Only print output from the remote session")
	return cmd
}

func (o *execOptions) run(ctx context.Context, podArg string, command []string) error {
	pod, err := podselect.Pod(ctx, o.env, podArg)
	if err != nil {
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase)
	}
	container, err := podselect.Container(o.env, pod, o.container)
	if err != nil {
		return err
	}
	cfg, err := o.env.REST()
	if err != nil {
		return err
	}
	typed, err := o.env.Typed()
	if err != nil {
		return err
	}
	in, _ := o.env.In.(*os.File)
	tty := o.tty
	if tty && (!o.stdin || in == nil || !term.IsTerminal(int(in.Fd()))) {
		if !o.quiet {
			fmt.Fprintln(o.env.ErrOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
		}
		tty = false
	}
	req := typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   command,
			Stdin:     o.stdin,
			Stdout:    true,
			Stderr:    !tty,
			TTY:       tty,
		}, scheme.ParameterCodec)
	// WebSockets first, SPDY for servers that do not upgrade to them, as
	// kubectl 1.32 does.
	wsExec, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return err
	}
	spdyExec, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return err
	}
	exec, err := remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	opts := remotecommand.StreamOptions{Stdout: o.env.Out, Tty: tty}
	if o.stdin {
		opts.Stdin = o.env.In
	}
	if !tty {
		opts.Stderr = o.env.ErrOut
	}
	if tty {
		state, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return fmt.Errorf("set terminal to raw mode: %w", err)
		}
		defer term.Restore(int(in.Fd()), state)
		sizes := newSizeQueue(ctx, in)
		defer sizes.stop()
		opts.TerminalSizeQueue = sizes
	}
	err = exec.StreamWithContext(ctx, opts)
	var exitErr utilexec.CodeExitError
	if errors.As(err, &exitErr) {
		var msg error
		if !o.quiet {
			msg = fmt.Errorf("command terminated with exit code %d", exitErr.Code)
		}
		return &cmderr.ExitError{Code: exitErr.Code, Err: msg}
	}
	return err
}

// sizeQueue reports the terminal's size at start and on every SIGWINCH.
type sizeQueue struct {
	ch     chan remotecommand.TerminalSize
	sig    chan os.Signal
	cancel context.CancelFunc
}

func newSizeQueue(ctx context.Context, f *os.File) *sizeQueue {
	ctx, cancel := context.WithCancel(ctx)
	q := &sizeQueue{ch: make(chan remotecommand.TerminalSize, 1), sig: make(chan os.Signal, 1), cancel: cancel}
	signal.Notify(q.sig, syscall.SIGWINCH)
	send := func() {
		w, h, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return
		}
		select {
		case q.ch <- remotecommand.TerminalSize{Width: uint16(w), Height: uint16(h)}:
		default:
		}
	}
	send()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-q.sig:
				send()
			}
		}
	}()
	return q
}

// Next blocks until the size changes; nil ends the queue.
func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q.ch
	if !ok {
		return nil
	}
	return &s
}

func (q *sizeQueue) stop() {
	signal.Stop(q.sig)
	q.cancel()
}
