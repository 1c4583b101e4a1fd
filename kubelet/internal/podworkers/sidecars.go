package podworkers

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/prober"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
)

// Init containers and sidecars, as Kubernetes' kubelet runs them
// (computeInitContainerActions, KEP-753):
//
//   - Init containers run one at a time in order. A regular one must
//     complete (exit 0) before the next starts; one that fails is run
//     again unless the pod restarts Never, which fails the pod.
//   - A sidecar (an init container with restartPolicy Always) lets the
//     next one start once it has started (running, its postStart hook
//     returned), and keeps running beside the regular containers: it is
//     restarted with back-off whatever the pod's restart policy.
//   - The regular containers start once every init container completed
//     or started. After that only sidecars are kept running.
//   - A pod whose regular containers have all exited for good (restart
//     policy Never or OnFailure) is done: its sidecars are stopped, last
//     started first, and its phase is its regular containers'.

// initActions is what a sync does with a pod's init containers.
type initActions struct {
	// start lists the init containers to start, or run again, now, in
	// spec order.
	start []*v1.Container
	// initialized: every init container completed or started; the
	// regular containers may run.
	initialized bool
	// failed: a regular init container failed and the restart policy
	// (Never) runs it no more; the pod has failed.
	failed bool
}

// computeInitActions decides what to do with the pod's init containers
// from what the runtime has of them. started tells whether a running
// sidecar has started: its startup probe, if it has one, succeeded.
func computeInitActions(pod *v1.Pod, rp *kruntime.Pod, started func(c *v1.Container, running *kruntime.Container) bool) initActions {
	var a initActions
	initialized := false
	for _, c := range pod.Spec.Containers {
		if rp.Latest(c.Name) != nil {
			// A regular container ran: the pod initialized before (the
			// runtime may have dropped completed init containers).
			initialized = true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		latest := rp.Latest(c.Name)
		sidecar := status.IsSidecar(c)
		if initialized {
			// Only sidecars are kept running once initialized.
			if sidecar && (latest == nil || latest.State != kruntime.StateRunning) {
				a.start = append(a.start, c)
			}
			continue
		}
		switch {
		case latest == nil, latest.State == kruntime.StateCreated:
			a.start = append(a.start, c)
			return a
		case latest.State == kruntime.StateRunning:
			if sidecar && started(c, latest) {
				// Started: running, its postStart hook returned before
				// this sync could see it running, and its startup
				// probe (if any) succeeded.
				continue
			}
			return a
		case sidecar:
			// Exited before the pod initialized: run it again before
			// going on.
			a.start = append(a.start, c)
			return a
		case latest.ExitCode == 0:
			continue
		case pod.Spec.RestartPolicy == v1.RestartPolicyNever:
			a.failed = true
			return a
		default:
			a.start = append(a.start, c)
			return a
		}
	}
	a.initialized = true
	return a
}

// sidecarStarted tells whether a running sidecar has started: with a
// startup probe, once the probe succeeded.
func (m *Manager) sidecarStarted(pod *v1.Pod) func(c *v1.Container, running *kruntime.Container) bool {
	return func(c *v1.Container, running *kruntime.Container) bool {
		if c.StartupProbe == nil || m.opts.Probes == nil {
			return true
		}
		r, _ := m.opts.Probes.Result(pod.UID, c.Name, running.ID, prober.Startup)
		return r == prober.Success
	}
}

// regularContainersDone reports whether every regular container of the
// pod has exited and none will run again under the restart policy: the
// pod is done, whatever its sidecars do.
func regularContainersDone(pod *v1.Pod, rp *kruntime.Pod) bool {
	if pod.Spec.RestartPolicy == v1.RestartPolicyAlways || len(pod.Spec.Containers) == 0 {
		return false
	}
	for _, c := range pod.Spec.Containers {
		latest := rp.Latest(c.Name)
		if latest == nil || latest.State != kruntime.StateExited || status.ShouldRestart(pod.Spec.RestartPolicy, latest.ExitCode) {
			return false
		}
	}
	return true
}

// stopAfter lists the containers that must have exited before the named
// one gets SIGTERM when the whole pod stops, as upstream's termination
// ordering: a sidecar waits for every regular container and for the
// sidecars after it; the others wait for none.
func stopAfter(pod *v1.Pod, name string) []string {
	idx := -1
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name && status.IsSidecar(&pod.Spec.InitContainers[i]) {
			idx = i
		}
	}
	if idx < 0 {
		return nil
	}
	var out []string
	for _, c := range pod.Spec.Containers {
		out = append(out, c.Name)
	}
	for _, c := range pod.Spec.InitContainers[idx+1:] {
		if status.IsSidecar(&c) {
			out = append(out, c.Name)
		}
	}
	return out
}

// waitForTurn waits, until deadline, for the containers a sidecar stops
// after to have exited (upstream's terminationOrdering.waitForTurn). It
// returns at the deadline anyway: the grace period bounds the whole
// pod's stop.
func (m *Manager) waitForTurn(ctx context.Context, pod *v1.Pod, name string, deadline time.Time) {
	after := stopAfter(pod, name)
	if len(after) == 0 {
		return
	}
	for {
		rp, err := m.opts.Runtime.GetPod(ctx, pod.UID)
		if err != nil {
			return
		}
		done := true
		for _, n := range after {
			if c := rp.Latest(n); c != nil && c.State != kruntime.StateExited {
				done = false
			}
		}
		if done || !time.Now().Before(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(50*time.Millisecond, time.Until(deadline))):
		}
	}
}
