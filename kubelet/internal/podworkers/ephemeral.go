package podworkers

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
)

// Ephemeral containers (spec.ephemeralContainers, added through the
// pods/ephemeralcontainers subresource, as `kubectl debug` does) run once
// each in the pod's sandbox, as upstream's kubelet runs them: never
// restarted, with no probes, ports or resources of their own, stopped
// with the pod. One with a targetContainerName joins the PID namespace of
// that container's running process, so it sees (and may debug) the
// target's processes; in a pod that shares one PID namespace, or uses
// the host's, it is in that one like every container of the pod.

// ensureEphemeralContainers starts every ephemeral container that has
// not run yet, and returns when the pod should be synced again for them.
func (m *Manager) ensureEphemeralContainers(ctx context.Context, pod *v1.Pod, rp *kruntime.Pod, podIP, hostIP string, waiting map[string]status.Waiting) time.Duration {
	requeue := time.Duration(0)
	for i := range pod.Spec.EphemeralContainers {
		ec := &pod.Spec.EphemeralContainers[i]
		c := v1.Container(ec.EphemeralContainerCommon)
		if latest := rp.Latest(c.Name); latest != nil {
			if latest.State == kruntime.StateCreated {
				// Created by a sync that did not get to start it.
				m.start(ctx, pod, &c, latest, waiting)
			}
			// Run once: whatever became of it, it is not run again.
			continue
		}
		targetPID, err := ephemeralTarget(pod, rp, ec)
		if err != nil {
			waiting[c.Name] = status.Waiting{Reason: status.ReasonContainerCreating, Message: err.Error()}
			requeue = soonestOf(requeue, time.Second)
			continue
		}
		requeue = soonestOf(requeue, m.runContainer(ctx, pod, &c, 0, podIP, hostIP, waiting, targetPID))
	}
	return requeue
}

// ephemeralTarget returns the host PID of the process whose PID
// namespace the ephemeral container joins, 0 for none (no target, or the
// pod's containers share one namespace already), or why it cannot start
// yet: its target is not running.
func ephemeralTarget(pod *v1.Pod, rp *kruntime.Pod, ec *v1.EphemeralContainer) (int, error) {
	if ec.TargetContainerName == "" || pod.Spec.HostPID || (pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace) {
		return 0, nil
	}
	t := rp.Latest(ec.TargetContainerName)
	if t == nil || t.State != kruntime.StateRunning || t.PID <= 0 {
		return 0, fmt.Errorf("target container %q is not running", ec.TargetContainerName)
	}
	return t.PID, nil
}

// soonestOf is the earlier of two requeue delays, 0 (or less) meaning
// none.
func soonestOf(a, b time.Duration) time.Duration {
	switch {
	case b <= 0:
		return a
	case a <= 0:
		return b
	}
	return min(a, b)
}
