// Package prober runs containers' liveness, readiness and startup probes
// (exec, tcpSocket, httpGet, grpc) on their schedules, one goroutine per probe
// of a running container, and keeps the latest verdict of each. Pod
// workers read the verdicts: readiness makes a container Ready, a failed
// liveness probe gets it restarted, startup gates the other two.
package prober

import (
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
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/shared/version"
)

// Kind is the kind of a probe.
type Kind string

// Probe kinds.
const (
	Liveness  Kind = "Liveness"
	Readiness Kind = "Readiness"
	Startup   Kind = "Startup"
)

// Result is a probe's verdict so far.
type Result int

// Results: Unknown until the first verdict (or while initialDelaySeconds
// runs), then Success or Failure once the threshold is reached.
const (
	Unknown Result = iota
	Success
	Failure
)

// key names one probe of one container attempt.
type key struct {
	uid       types.UID
	container string
	id        string // runtime container ID: a new attempt is a new probe
	kind      Kind
}

// Manager runs probes.
type Manager struct {
	runtime kruntime.Runtime
	// changed is told when a verdict changes.
	changed func(types.UID)
	// event records probe failures (Warning Unhealthy).
	event func(pod *v1.Pod, container, reason, message string)

	mu      sync.Mutex // guards probes
	probes  map[key]*probe
	stopped bool
}

type probe struct {
	cancel context.CancelFunc
	mu     sync.Mutex // guards result and message
	result Result
	msg    string
}

// New returns a manager.
func New(rt kruntime.Runtime, changed func(types.UID), event func(pod *v1.Pod, container, reason, message string)) *Manager {
	return &Manager{runtime: rt, changed: changed, event: event, probes: map[key]*probe{}}
}

// Probed lists the containers whose probes run: the pod's sidecars
// (init containers with restartPolicy Always, which run beside the
// others) and its regular containers.
func Probed(pod *v1.Pod) []*v1.Container {
	var out []*v1.Container
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			out = append(out, c)
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// Sync starts the probes of the pod's running containers that have none
// and stops those of containers that are no longer running.
func (m *Manager) Sync(pod *v1.Pod, rp *kruntime.Pod, podIP string) {
	want := map[key]*v1.Container{}
	if rp != nil {
		for _, c := range Probed(pod) {
			latest := rp.Latest(c.Name)
			if latest == nil || latest.State != kruntime.StateRunning {
				continue
			}
			for kind, p := range map[Kind]*v1.Probe{Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe, Startup: c.StartupProbe} {
				if p != nil {
					want[key{pod.UID, c.Name, latest.ID, kind}] = c
				}
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	for k, p := range m.probes {
		if k.uid == pod.UID && want[k] == nil {
			p.cancel()
			delete(m.probes, k)
		}
	}
	for k, c := range want {
		if _, ok := m.probes[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		p := &probe{cancel: cancel}
		m.probes[k] = p
		go m.run(ctx, k, pod.DeepCopy(), c.DeepCopy(), p, podIP)
	}
}

// Forget stops every probe of the pod.
func (m *Manager) Forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, p := range m.probes {
		if k.uid == uid {
			p.cancel()
			delete(m.probes, k)
		}
	}
}

// Stop stops every probe.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	for k, p := range m.probes {
		p.cancel()
		delete(m.probes, k)
	}
}

// Result returns the verdict of a probe of a container attempt, and its
// last failure message; Unknown if it has none (yet).
func (m *Manager) Result(uid types.UID, container, id string, kind Kind) (Result, string) {
	m.mu.Lock()
	p := m.probes[key{uid, container, id, kind}]
	m.mu.Unlock()
	if p == nil {
		return Unknown, ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.result, p.msg
}

func spec(c *v1.Container, kind Kind) *v1.Probe {
	switch kind {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	}
	return c.StartupProbe
}

// run probes on the schedule until ctx ends.
func (m *Manager) run(ctx context.Context, k key, pod *v1.Pod, c *v1.Container, p *probe, podIP string) {
	ps := spec(c, k.kind)
	period := seconds(ps.PeriodSeconds, 10)
	timeout := seconds(ps.TimeoutSeconds, 1)
	success, failure := int(max(ps.SuccessThreshold, 1)), int(max(ps.FailureThreshold, 3))
	if k.kind != Readiness {
		success = 1
	}
	if ps.InitialDelaySeconds > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(ps.InitialDelaySeconds) * time.Second):
		}
	}
	okRun, failRun := 0, 0
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		// Liveness and readiness wait for the startup probe.
		if k.kind == Startup || m.startedOrNoStartup(k, c) {
			err := m.probeOnce(ctx, k, c, ps, podIP, timeout)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				okRun, failRun = okRun+1, 0
			} else {
				okRun, failRun = 0, failRun+1
				m.event(pod, c.Name, "Unhealthy", fmt.Sprintf("%s probe failed: %v", k.kind, err))
			}
			verdict := Unknown
			switch {
			case okRun >= success:
				verdict = Success
			case failRun >= failure:
				verdict = Failure
			}
			if verdict != Unknown {
				p.mu.Lock()
				changed := p.result != verdict
				p.result = verdict
				if err != nil {
					p.msg = err.Error()
				}
				p.mu.Unlock()
				if changed {
					m.changed(k.uid)
				}
				if k.kind == Startup && verdict == Success {
					return // a startup probe stops once it succeeded
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Manager) startedOrNoStartup(k key, c *v1.Container) bool {
	if c.StartupProbe == nil {
		return true
	}
	r, _ := m.Result(k.uid, k.container, k.id, Startup)
	return r == Success
}

func seconds(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

// probeOnce runs the probe once: nil is success.
func (m *Manager) probeOnce(ctx context.Context, k key, c *v1.Container, p *v1.Probe, podIP string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		var out strings.Builder
		code, err := m.runtime.Exec(ctx, k.uid, k.id, kruntime.ExecOptions{Command: p.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			// Upstream's words (the CRI's ErrCommandTimedOut).
			return errors.New("command timed out")
		}
		if code != 0 {
			// As upstream's exec prober: the failure is the command's
			// output (its first 10 KiB), whatever it says.
			o := out.String()
			if len(o) > maxExecOutput {
				o = o[:maxExecOutput]
			}
			return errors.New(o)
		}
		return nil
	case p.TCPSocket != nil:
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := portOf(c, p.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("dial tcp %s:%d: %w", host, port, err)
		}
		return conn.Close()
	case p.HTTPGet != nil:
		return httpProbe(ctx, c, p.HTTPGet, podIP)
	case p.GRPC != nil:
		host := podIP
		if host == "" {
			return fmt.Errorf("error: the pod has no IP to probe")
		}
		return grpcProbe(ctx, host, int(p.GRPC.Port), ptr.Deref(p.GRPC.Service, ""), timeout)
	}
	return fmt.Errorf("probe has no handler")
}

// userAgent is Kubernetes' probes' User-Agent: kube-probe/<major>.<minor>
// of the Kubernetes version the node serves.
func userAgent() string {
	v := version.Get()
	return "kube-probe/" + v.Major + "." + v.Minor
}

// maxExecOutput is how much of an exec probe's output its failure
// message keeps, as upstream's maxReadLength.
const maxExecOutput = 10 * 1024

// portOf resolves a probe's port: a number, or the name of one of the
// container's ports (as charts made by `helm create` probe "http").
func portOf(c *v1.Container, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q not found", p.StrVal)
}

// httpProbe succeeds on a status from 200 to 399, as Kubernetes.
func httpProbe(ctx context.Context, c *v1.Container, g *v1.HTTPGetAction, podIP string) error {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := portOf(c, g.Port)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	if u.Path == "" {
		u.Path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent())
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as kubelet probes
		DisableKeepAlives: true,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}
