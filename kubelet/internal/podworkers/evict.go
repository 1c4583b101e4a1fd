package podworkers

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

// The reason of a pod the kubelet evicted, and of its DisruptionTarget
// condition, as upstream's eviction manager writes them.
const (
	reasonEvicted              = "Evicted"
	reasonTerminationByKubelet = "TerminationByKubelet"
)

// eviction is the eviction manager's request to end a pod.
type eviction struct {
	message string
	grace   time.Duration
}

// Evict asks the pod's worker to end the pod as upstream's kubelet
// evicts one under node pressure: its containers stopped within grace,
// the pod Failed with reason Evicted and the message, and a
// DisruptionTarget condition (reason TerminationByKubelet) saying so. It
// returns at once; the worker does the work at its next sync, which it
// starts now.
func (m *Manager) Evict(pod *v1.Pod, message string, grace time.Duration) {
	m.mu.Lock()
	m.evictions[pod.UID] = eviction{message: message, grace: grace}
	m.mu.Unlock()
	m.Update(pod.UID)
}

// evictionOf returns the eviction asked for the pod, if any.
func (m *Manager) evictionOf(uid types.UID) (eviction, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev, ok := m.evictions[uid]
	return ev, ok
}

// forgetEviction drops the pod's eviction once it is done with.
func (m *Manager) forgetEviction(uid types.UID) {
	m.mu.Lock()
	delete(m.evictions, uid)
	m.mu.Unlock()
}

// evict fails a pod the eviction manager chose.
func (m *Manager) evict(ctx context.Context, w *worker, pod *v1.Pod, rp *kruntime.Pod, ev eviction) time.Duration {
	return m.failPod(ctx, w, pod, rp, failure{
		reason: reasonEvicted, message: ev.message, grace: ev.grace,
		condition: &v1.PodCondition{
			Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: reasonTerminationByKubelet,
			Message: ev.message, LastTransitionTime: metav1.Now(),
		},
	})
}
