package job

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
)

// BackoffRecord is what the pod back-off of a Job without
// backoffLimitPerIndex starts from, as Kubernetes keeps it in memory:
// the failures since the last success and when the last one was. A
// success resets it, so one flaky pod among many good ones does not slow
// the whole Job down for ever.
type BackoffRecord struct {
	FailuresAfterLastSuccess int
	LastFailure              time.Time
}

// Next is the record after the pods that finished since: newly
// succeeded and failed pods, ordered by when they finished.
func (r BackoffRecord) Next(succeeded, failed []*corev1.Pod) BackoffRecord {
	if len(succeeded) == 0 && len(failed) == 0 {
		return r
	}
	sortByFinish(succeeded)
	sortByFinish(failed)
	if len(succeeded) == 0 {
		return BackoffRecord{
			FailuresAfterLastSuccess: r.FailuresAfterLastSuccess + len(failed),
			LastFailure:              finishedAt(failed[len(failed)-1]),
		}
	}
	// Only the failures after the last success count.
	next := BackoffRecord{}
	lastSuccess := finishedAt(succeeded[len(succeeded)-1])
	for i := len(failed) - 1; i >= 0; i-- {
		t := finishedAt(failed[i])
		if !t.After(lastSuccess) {
			break
		}
		if next.LastFailure.IsZero() {
			next.LastFailure = t
		}
		next.FailuresAfterLastSuccess++
	}
	return next
}

// Remaining is how long until a new pod may start, 0 if now.
func (r BackoffRecord) Remaining(now time.Time, base, max time.Duration) time.Duration {
	return remaining(now, base, max, r.FailuresAfterLastSuccess, r.LastFailure)
}

// Backoff is the delay before a new pod after failures failures: base,
// doubling with each further failure, at most max.
func Backoff(failures int, base, max time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := base
	for i := 1; i < failures; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	return min(d, max)
}

func remaining(now time.Time, base, max time.Duration, failures int, last time.Time) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := Backoff(failures, base, max) - now.Sub(last)
	if d < 0 {
		return 0
	}
	return d
}

// indexRemaining is how long until the index of failed pod last (nil:
// none) may get its next pod: the back-off grows with every failure of
// the index, ignored ones included.
func indexRemaining(now time.Time, base, max time.Duration, last *corev1.Pod) time.Duration {
	if last == nil {
		return 0
	}
	counted, ignored := failureCounts(last)
	return remaining(now, base, max, int(counted+ignored)+1, finishedAt(last))
}

func sortByFinish(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool { return finishedAt(pods[i]).Before(finishedAt(pods[j])) })
}

// finishedAt is when a finished pod finished, as well as its status
// tells, in Kubernetes' order: the last of its containers' (and
// restartable init containers') finish times if they all have one, when
// it turned not Ready, when its deletion began, or else when it was
// made.
func finishedAt(p *corev1.Pod) time.Time {
	sidecars := sets.New[string]()
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Insert(c.Name)
		}
	}
	var sidecarStatuses []corev1.ContainerStatus
	for _, cs := range p.Status.InitContainerStatuses {
		if sidecars.Has(cs.Name) {
			sidecarStatuses = append(sidecarStatuses, cs)
		}
	}
	if t, ok := latestFinish(append(append([]corev1.ContainerStatus(nil), p.Status.ContainerStatuses...), sidecarStatuses...)); ok {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Add(-time.Duration(ptr.Deref(p.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
	return p.CreationTimestamp.Time
}

// latestFinish is the latest finish time of statuses, and false if there
// are none or one has not finished.
func latestFinish(statuses []corev1.ContainerStatus) (time.Time, bool) {
	var t time.Time
	for _, cs := range statuses {
		term := cs.State.Terminated
		if term == nil || term.FinishedAt.IsZero() {
			return time.Time{}, false
		}
		if term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	return t, len(statuses) > 0
}
