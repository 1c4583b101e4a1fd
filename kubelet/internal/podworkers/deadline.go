package podworkers

import (
	"context"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/status"
)

// The reason and message of a pod that outlived its
// activeDeadlineSeconds, as upstream's active deadline handler
// (pkg/kubelet/active_deadline.go) gives them.
const (
	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// activeDeadline returns how long the pod may still run before its
// activeDeadlineSeconds, counted from its status' startTime, runs out,
// and whether it has: as upstream, it is past at exactly the deadline.
// A pod without a deadline or not yet started has no limit (0, false).
func activeDeadline(pod *v1.Pod, startTime *metav1.Time, now time.Time) (time.Duration, bool) {
	if pod.Spec.ActiveDeadlineSeconds == nil || startTime.IsZero() {
		return 0, false
	}
	left := startTime.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now)
	return left, left <= 0
}

// failDeadlineExceeded ends a pod past its active deadline, as upstream's
// kubelet evicts it: a DeadlineExceeded event, every container stopped
// (preStop hooks first, within the pod's grace period), and the pod
// Failed with reason DeadlineExceeded. Once Failed, the next sync frees
// its sandbox as for any finished pod. It returns when to sync again.
func (m *Manager) failDeadlineExceeded(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod) time.Duration {
	if !w.deadlineEvent {
		m.event(pod, "", v1.EventTypeNormal, reasonDeadlineExceeded, "%s", messageDeadlineExceeded)
		w.deadlineEvent = true
	}
	if rp != nil {
		if err := m.stopContainers(ctx, pod, rp, gracePeriod(pod)); err != nil {
			m.log.Warn("stop pod past its deadline", zap.String("pod", key(pod)), zap.Error(err))
			return 2 * time.Second
		}
		stopped, err := m.opts.Runtime.GetPod(ctx, pod.UID)
		if err != nil {
			return time.Second
		}
		rp = stopped
	}
	base := m.statusBase(w, pod)
	st := status.Compute(status.Input{
		Pod: base, Runtime: rp, HostIP: m.opts.HostIP(pod.Spec.NodeName), Terminal: true, Now: time.Now(),
	})
	// Terminal made the phase final (and the conditions those of a
	// completed pod); even if every container exited 0, the pod failed.
	st.Phase, st.Reason, st.Message = v1.PodFailed, reasonDeadlineExceeded, messageDeadlineExceeded
	m.setTerminationMessages(ctx, w, pod, rp, &st)
	if err := m.patchStatus(ctx, w, pod, base.Status, st); err != nil {
		return 2 * time.Second
	}
	m.log.Info("pod past its active deadline", zap.String("pod", key(pod)))
	return 100 * time.Millisecond
}
