package podworkers

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
)

// Lifecycle hooks, as Kubernetes' kubelet runs them
// (pkg/kubelet/lifecycle/handlers.go, kuberuntime_container.go):
//
//   - postStart runs right after the container starts, and the sync that
//     started it waits for it, so the container is reported only once the
//     hook returned. A failing hook gets the container killed; its restart
//     policy decides what follows.
//   - preStop runs before SIGTERM whenever the kubelet stops a container
//     (pod deletion, liveness and startup failures, a failed postStart),
//     within the grace period: what it takes is taken from the time the
//     container gets after SIGTERM, down to minimumGracePeriod.
const (
	// minimumGracePeriod is the least time a container gets between
	// SIGTERM and SIGKILL, however long its preStop hook took
	// (upstream's minimumGracePeriodInSeconds).
	minimumGracePeriod = 2 * time.Second

	// Event reasons and the waiting reason of a container whose postStart
	// hook failed (pkg/kubelet/events, kuberuntime.ErrPostStartHook).
	reasonFailedPostStartHook = "FailedPostStartHook"
	reasonFailedPreStopHook   = "FailedPreStopHook"
	reasonPostStartHookError  = "PostStartHookError"

	// maxHookResponseBody is how much of an HTTP hook's response is read.
	maxHookResponseBody = 10 << 10

	// hookUserAgent is the User-Agent of HTTP hooks, as upstream's
	// "kube-lifecycle/<major>.<minor>".
	hookUserAgent = "kube-lifecycle/1.37"
)

// hookTarget is the container attempt a hook runs for.
type hookTarget struct {
	pod   *v1.Pod
	spec  *v1.Container
	id    string // the runtime's container ID
	podIP string
}

// runHook runs one lifecycle handler. On failure it returns the message
// upstream gives (which may carry the hook's output, so it goes to the
// log and the container's status, not to events).
func (m *Manager) runHook(ctx context.Context, t hookTarget, h *v1.LifecycleHandler) (string, error) {
	switch {
	case h.Exec != nil:
		out, err := m.execHook(ctx, t, h.Exec.Command)
		if err != nil {
			return execHookMessage(h.Exec.Command, t.spec.Name, t.pod, err, out), err
		}
		return "", nil
	case h.HTTPGet != nil:
		if err := m.httpHook(ctx, t, h.HTTPGet); err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, t.spec.Name, formatPod(t.pod), err), err
		}
		return "", nil
	case h.Sleep != nil:
		if err := sleepHook(ctx, h.Sleep.Seconds); err != nil {
			return fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v", h.Sleep.Seconds, t.spec.Name, formatPod(t.pod), err), err
		}
		return "", nil
	}
	err := fmt.Errorf("invalid handler: %v", h)
	return fmt.Sprintf("Cannot run handler: %v", err), err
}

// execHookMessage is upstream's message for a failed exec hook; out is
// the command's stdout then stderr.
func execHookMessage(cmd []string, container string, pod *v1.Pod, err error, out []byte) string {
	return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", cmd, container, formatPod(pod), err, string(out))
}

// formatPod names a pod as upstream's format.Pod: name_namespace(uid).
func formatPod(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// execHook runs the command in the container with no timeout of its own
// (upstream's RunInContainer with timeout 0): ctx bounds it. A non-zero
// exit is an error worded as CRI's ExecSync words it.
func (m *Manager) execHook(ctx context.Context, t hookTarget, cmd []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	code, err := m.opts.Runtime.Exec(ctx, t.pod.UID, t.id, kruntime.ExecOptions{Command: cmd, Stdout: &stdout, Stderr: &stderr})
	out := append(stdout.Bytes(), stderr.Bytes()...)
	if err != nil {
		return out, err
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("command '%s' was stopped: %w", strings.Join(cmd, " "), ctx.Err())
	}
	if code != 0 {
		return out, fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), code, stderr.String())
	}
	return out, nil
}

// sleepHook waits, or fails if the container is stopped first.
func sleepHook(ctx context.Context, seconds int64) error {
	t := time.NewTimer(time.Duration(seconds) * time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errors.New("container terminated before sleep hook finished")
	case <-t.C:
		return nil
	}
}

// httpHook sends the hook's GET. As upstream, any response is success:
// only a failed request fails the hook. An HTTPS request answered in
// plain HTTP is retried over HTTP, with a LifecycleHTTPFallback event.
func (m *Manager) httpHook(ctx context.Context, t hookTarget, g *v1.HTTPGetAction) error {
	req, err := hookRequest(ctx, t, g)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as upstream's hooks
		DisableKeepAlives: true,
	}}
	resp, err := client.Do(req)
	discardBody(resp)
	if err != nil && req.URL.Scheme == "https" && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		retry := req.Clone(ctx)
		retry.URL.Scheme = "http"
		retry.Header.Del("Authorization")
		resp, httpErr := client.Do(retry)
		discardBody(resp)
		if httpErr == nil {
			m.event(t.pod, "", v1.EventTypeWarning, "LifecycleHTTPFallback", "request to HTTPS lifecycle hook %s got HTTP response, retry with HTTP succeeded", retry.URL.Host)
			err = nil
		}
	}
	return err
}

// hookRequest builds an HTTP hook's request as upstream's
// NewRequestForHTTPGetAction: the hook's host or the pod's IP, the port
// by number or by the name of one of the container's ports, the path and
// headers as given.
func hookRequest(ctx context.Context, t hookTarget, g *v1.HTTPGetAction) (*http.Request, error) {
	host := g.Host
	if host == "" {
		host = t.podIP
	}
	if host == "" {
		return nil, errors.New("failed to find networking container: the pod has no IP")
	}
	port, err := hookPort(t.spec, g.Port)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", hookUserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	return req, nil
}

// hookPort resolves an HTTP hook's port: a number, or the name of one of
// the container's ports.
func hookPort(c *v1.Container, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p, c)
}

func discardBody(resp *http.Response) {
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	if resp.ContentLength <= maxHookResponseBody {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHookResponseBody))
	}
}

// postStart runs the container's postStart hook, if it has one, right
// after it started. On failure the container is killed (its preStop hook
// runs first, as upstream's killContainer) and waiting says why; the
// returned requeue brings the next sync, which restarts it if its restart
// policy says so.
func (m *Manager) postStart(ctx context.Context, pod *v1.Pod, c *v1.Container, ctr *kruntime.Container, podIP string, waiting map[string]status.Waiting) time.Duration {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return 0
	}
	t := hookTarget{pod: pod, spec: c, id: ctr.ID, podIP: podIP}
	msg, err := m.runHook(ctx, t, c.Lifecycle.PostStart)
	if err == nil {
		return 0
	}
	m.log.Info("postStart hook failed", zap.String("pod", key(pod)), zap.String("container", c.Name), zap.String("message", msg), zap.Error(err))
	// As upstream, the event does not carry the message, which may
	// carry secrets from the hook's output.
	m.event(pod, c.Name, v1.EventTypeWarning, reasonFailedPostStartHook, "PostStartHook failed")
	m.killContainer(ctx, pod, c, ctr.ID, podIP, gracePeriod(pod), reasonFailedPostStartHook)
	waiting[c.Name] = status.Waiting{Reason: reasonPostStartHookError, Message: msg}
	return 100 * time.Millisecond
}

// killContainer stops one container as upstream's killContainer does: a
// Killing event with message, the preStop hook (if the container has one
// and there is a grace period) within grace, then SIGTERM with what is
// left of grace but at least minimumGracePeriod, then SIGKILL.
func (m *Manager) killContainer(ctx context.Context, pod *v1.Pod, c *v1.Container, id, podIP string, grace time.Duration, message string) {
	if message == "" {
		message = "Stopping container " + c.Name
	}
	m.event(pod, c.Name, v1.EventTypeNormal, "Killing", "%s", message)
	if err := m.stopOne(ctx, pod, c, id, podIP, grace, false); err != nil {
		m.log.Warn("stop container", zap.String("pod", key(pod)), zap.String("container", c.Name), zap.Error(err))
	}
}

// stopWithPreStop stops one container of a pod that stops as a whole
// (deleted, past its deadline, finished): its preStop hook, if any, then
// its turn (a sidecar waits for the regular containers and the sidecars
// after it to exit, see sidecars.go), then SIGTERM with the grace period
// the hook and the wait left.
func (m *Manager) stopWithPreStop(ctx context.Context, pod *v1.Pod, c *v1.Container, id, podIP string, grace time.Duration) error {
	return m.stopOne(ctx, pod, c, id, podIP, grace, true)
}

// stopOne runs the container's preStop hook, if any, waits for its turn
// if ordered, then stops it with the grace period left. As upstream,
// every preStop hook of a stopping pod runs at once; only SIGTERM waits.
func (m *Manager) stopOne(ctx context.Context, pod *v1.Pod, c *v1.Container, id, podIP string, grace time.Duration, ordered bool) error {
	start := time.Now()
	hook := c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0
	if hook {
		m.preStop(ctx, hookTarget{pod: pod, spec: c, id: id, podIP: podIP}, grace)
	}
	if ordered && c != nil {
		m.waitForTurn(ctx, pod, c.Name, start.Add(grace))
	}
	if took := time.Since(start); hook {
		grace = stopGrace(grace, took)
	} else if ordered && c != nil && len(stopAfter(pod, c.Name)) > 0 {
		// A sidecar gets what its wait left of the pod's grace period.
		grace = max(grace-took, 0)
	}
	return m.opts.Runtime.StopContainer(ctx, pod.UID, id, grace)
}

// stopGrace is the time a container gets between SIGTERM and SIGKILL
// after its preStop hook took some of grace: what is left, but never
// less than minimumGracePeriod. (Upstream's minimum holds for every
// kill; here it holds where a hook ran, so a pod deleted with grace 0
// and no hook is still killed at once.)
func stopGrace(grace, took time.Duration) time.Duration {
	return max(grace-took, minimumGracePeriod)
}

// preStop runs the preStop hook for at most grace and returns how long it
// ran (upstream's executePreStopHook). A hook still running when grace
// ends is stopped: the container is killed next anyway. A failed hook is
// a FailedPreStopHook event, and the kill goes on.
func (m *Manager) preStop(ctx context.Context, t hookTarget, grace time.Duration) time.Duration {
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	msg, err := m.runHook(hctx, t, t.spec.Lifecycle.PreStop)
	if err != nil && !errors.Is(hctx.Err(), context.DeadlineExceeded) {
		m.log.Info("preStop hook failed", zap.String("pod", key(t.pod)), zap.String("container", t.spec.Name), zap.String("message", msg), zap.Error(err))
		m.event(t.pod, t.spec.Name, v1.EventTypeWarning, reasonFailedPreStopHook, "PreStopHook failed")
	} else if err != nil {
		m.log.Info("preStop hook not completed in grace period", zap.String("pod", key(t.pod)), zap.String("container", t.spec.Name), zap.Duration("grace", grace))
	}
	return time.Since(start)
}

// containerSpec returns the spec of the pod's container of that name
// (regular, init: sidecars have hooks too, or ephemeral), or nil.
func containerSpec(pod *v1.Pod, name string) *v1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			// The same fields as a container's (lifecycle hooks are not
			// allowed in ephemeral containers), as upstream converts.
			c := v1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			return &c
		}
	}
	return nil
}

// podIPOf is the address HTTP hooks of the pod's containers go to: the
// sandbox's, or the node's for a pod on the host network.
func (m *Manager) podIPOf(pod *v1.Pod, rp *kruntime.Pod) string {
	if pod.Spec.HostNetwork {
		return m.opts.HostIP(pod.Spec.NodeName)
	}
	if rp != nil {
		return rp.IP
	}
	return ""
}
