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
// kubelet does: a DeadlineExceeded event, then failPod within the pod's
// grace period.
func (m *Manager) failDeadlineExceeded(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod) time.Duration {
	if !w.deadlineEvent {
		m.event(pod, "", v1.EventTypeNormal, reasonDeadlineExceeded, "%s", messageDeadlineExceeded)
		w.deadlineEvent = true
	}
	return m.failPod(ctx, w, pod, rp, failure{reason: reasonDeadlineExceeded, message: messageDeadlineExceeded, grace: gracePeriod(pod)})
}

// failure is why the kubelet itself ends a pod.
type failure struct {
	reason, message string
	grace           time.Duration
	// condition, when set, is added to the pod's conditions (an
	// eviction's DisruptionTarget).
	condition *v1.PodCondition
}

// failPod ends a pod the kubelet gives up on: every container stopped
// (preStop hooks first, within the grace period), and the pod Failed
// with the failure's reason and message. Once Failed, the next sync
// frees its sandbox as for any finished pod. It returns when to sync
// again.
func (m *Manager) failPod(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod, f failure) time.Duration {
	if rp != nil {
		if err := m.stopContainers(ctx, pod, rp, f.grace); err != nil {
			m.log.Warn("stop failed pod", zap.String("pod", key(pod)), zap.String("reason", f.reason), zap.Error(err))
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
	st.Phase, st.Reason, st.Message = v1.PodFailed, f.reason, f.message
	if f.condition != nil {
		setCondition(&st, *f.condition)
	}
	m.setTerminationMessages(ctx, w, pod, rp, &st)
	if err := m.patchStatus(ctx, w, pod, base.Status, st); err != nil {
		return 2 * time.Second
	}
	m.log.Info("pod failed by the kubelet", zap.String("pod", key(pod)), zap.String("reason", f.reason))
	return 100 * time.Millisecond
}

// setCondition puts c among the status' conditions, replacing one of its
// type; the transition time stays when the status does not change.
func setCondition(st *v1.PodStatus, c v1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type != c.Type {
			continue
		}
		if st.Conditions[i].Status == c.Status {
			c.LastTransitionTime = st.Conditions[i].LastTransitionTime
		}
		st.Conditions[i] = c
		return
	}
	st.Conditions = append(st.Conditions, c)
}
