package eviction

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"coracle.dev/kubelet/internal/cgroups"
)

// Killer ends pods for the eviction manager.
type Killer interface {
	// Evict fails the pod (Phase Failed, reason "Evicted", the message,
	// a DisruptionTarget condition reason TerminationByKubelet) after
	// stopping its containers within grace; it returns at once, the
	// pod's worker does the work.
	Evict(pod *v1.Pod, message string, grace time.Duration)
}

// Upstream's intervals: a round every 10s; after an eviction, the next
// round waits (up to 30s, looking every second) for the pod's resources
// to be reclaimed, so that one pressure does not evict two pods.
const (
	DefaultInterval    = 10 * time.Second
	podCleanupTimeout  = 30 * time.Second
	podCleanupPollFreq = time.Second
)

// Options configure a Manager.
type Options struct {
	// Thresholds are the hard and soft thresholds (ParseThresholds).
	Thresholds []Threshold
	// PressureTransitionPeriod keeps a pressure condition True that long
	// after its signal recovered (--eviction-pressure-transition-period).
	PressureTransitionPeriod time.Duration
	// MaxPodGracePeriodSeconds bounds the grace period of soft
	// evictions (--eviction-max-pod-grace-period); negative defers to
	// the pod's.
	MaxPodGracePeriodSeconds int64

	// Summary observes the node.
	Summary SummaryProvider
	// ActivePods are the pods bound to the node and not terminal.
	ActivePods func() []*v1.Pod
	// Killer evicts the chosen pod.
	Killer Killer
	// PodCleanedUp reports whether an evicted pod's resources are
	// reclaimed (its processes gone). Nil waits until it is no longer
	// active.
	PodCleanedUp func(*v1.Pod) bool
	// DeleteUnusedImages frees disk before pods are evicted for it; nil
	// for none.
	DeleteUnusedImages func(context.Context) error
	// ConditionsChanged is called when the node's pressure conditions
	// change, for the node status to be written at once.
	ConditionsChanged func()

	// Recorder records the pods' Evicted events and the node's
	// EvictionThresholdMet; NodeRef is the node.
	Recorder record.EventRecorder
	NodeRef  *v1.ObjectReference
	// Metrics, if set, gets the kubelet_evictions counter.
	Metrics prometheus.Registerer
	Log     *zap.Logger
	// Interval is the time between rounds (DefaultInterval); Clock is
	// the manager's time (tests step it).
	Interval time.Duration
	Clock    clock.Clock
}

// Manager is the node-pressure eviction manager of one node.
type Manager struct {
	opts      Options
	log       *zap.Logger
	evictions *prometheus.CounterVec

	mu sync.RWMutex // guards the fields below
	// conditions are the pressure conditions the node reports.
	conditions []v1.NodeConditionType
	// firstObservedAt is when each met threshold was first seen met;
	// conditionsLastObservedAt when each condition was last seen.
	firstObservedAt          map[Threshold]time.Time
	conditionsLastObservedAt map[v1.NodeConditionType]time.Time
	// thresholdsMet are the thresholds that drove the last round,
	// resolved only once their minimum reclaim is met.
	thresholdsMet []Threshold
}

// New returns a manager; Run runs it.
func New(opts Options) *Manager {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	m := &Manager{
		opts: opts, log: opts.Log,
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "kubelet", Name: "evictions",
			Help: "Cumulative number of pod evictions by eviction signal",
		}, []string{"eviction_signal"}),
		firstObservedAt:          map[Threshold]time.Time{},
		conditionsLastObservedAt: map[v1.NodeConditionType]time.Time{},
	}
	if opts.Metrics != nil {
		if err := opts.Metrics.Register(m.evictions); err != nil {
			m.log.Warn("register eviction metrics", zap.Error(err))
		}
	}
	return m
}

// Run runs a round every Interval until ctx ends; after an eviction it
// waits for the pod's resources to be reclaimed instead.
func (m *Manager) Run(ctx context.Context) {
	for {
		evicted := m.synchronize(ctx)
		if len(evicted) > 0 {
			m.waitForPodsCleanup(ctx, evicted)
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(m.opts.Interval):
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// Conditions are the pressure conditions the node reports now.
func (m *Manager) Conditions() []v1.NodeConditionType {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]v1.NodeConditionType(nil), m.conditions...)
}

// IsUnderPressure reports whether the node reports condition t.
func (m *Manager) IsUnderPressure(t v1.NodeConditionType) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return hasCondition(m.conditions, t)
}

// Admit says whether a pod may start on the node now, as upstream's
// eviction admission: critical pods always; under memory pressure alone,
// all but BestEffort pods (and those tolerating the memory-pressure
// taint); under any other pressure, none.
func (m *Manager) Admit(pod *v1.Pod) (ok bool, reason, message string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.conditions) == 0 || isCriticalPod(pod) {
		return true, "", ""
	}
	if len(m.conditions) == 1 && m.conditions[0] == v1.NodeMemoryPressure {
		if !isBestEffort(pod) {
			return true, "", ""
		}
		taint := &v1.Taint{Key: v1.TaintNodeMemoryPressure, Effect: v1.TaintEffectNoSchedule}
		if corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, taint, false) {
			return true, "", ""
		}
	}
	return false, Reason, fmt.Sprintf(nodeConditionMessageFmt, formatConditions(m.conditions))
}

// formatConditions prints conditions as Go prints the slice upstream
// formats: [MemoryPressure DiskPressure].
func formatConditions(cs []v1.NodeConditionType) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// synchronize is one round, as upstream's: observe, find the thresholds
// met, update the node conditions, then reclaim node resources or evict
// one pod. It returns the pods it evicted.
func (m *Manager) synchronize(ctx context.Context) []*v1.Pod {
	if len(m.opts.Thresholds) == 0 {
		return nil
	}
	active := m.opts.ActivePods()
	summary, err := m.opts.Summary.Summary(active)
	if err != nil {
		m.log.Warn("eviction manager: observe node", zap.Error(err))
		return nil
	}
	obs, stats := makeObservations(summary)
	now := m.opts.Clock.Now()

	m.mu.Lock()
	thresholds := thresholdsMet(m.opts.Thresholds, obs, false)
	// Thresholds met before stay met until their minimum reclaim is.
	if len(m.thresholdsMet) > 0 {
		for _, t := range thresholdsMet(m.thresholdsMet, obs, true) {
			if !containsThreshold(thresholds, t) {
				thresholds = append(thresholds, t)
			}
		}
	}
	firstObservedAt := map[Threshold]time.Time{}
	for _, t := range thresholds {
		at, ok := m.firstObservedAt[t]
		if !ok {
			at = now
		}
		firstObservedAt[t] = at
	}
	lastObserved := map[v1.NodeConditionType]time.Time{}
	for _, c := range nodeConditions(thresholds) {
		lastObserved[c] = now
	}
	for c, at := range m.conditionsLastObservedAt {
		if _, ok := lastObserved[c]; !ok {
			lastObserved[c] = at
		}
	}
	var conditions []v1.NodeConditionType
	for c, at := range lastObserved {
		if now.Sub(at) < m.opts.PressureTransitionPeriod || at.Equal(now) {
			conditions = append(conditions, c)
		}
	}
	sort.Slice(conditions, func(i, j int) bool { return conditionOrder(conditions[i]) < conditionOrder(conditions[j]) })
	// The thresholds whose grace period passed drive evictions.
	var met []Threshold
	for _, t := range thresholds {
		if now.Sub(firstObservedAt[t]) >= t.GracePeriod {
			met = append(met, t)
		}
	}
	changed := !sameConditions(conditions, m.conditions)
	m.conditions = conditions
	m.firstObservedAt = firstObservedAt
	m.conditionsLastObservedAt = lastObserved
	m.thresholdsMet = met
	m.mu.Unlock()

	if changed {
		m.log.Info("eviction manager: node conditions", zap.Stringer("conditions", stringer(formatConditions(conditions))))
		if m.opts.ConditionsChanged != nil {
			m.opts.ConditionsChanged()
		}
	}
	if len(met) == 0 {
		return nil
	}
	// Memory first, as upstream's byEvictionPriority.
	sort.SliceStable(met, func(i, j int) bool { return memorySignal(met[i].Signal) && !memorySignal(met[j].Signal) })
	threshold := met[0]
	rn := signalToResource[threshold.Signal]
	m.log.Info("eviction manager: attempting to reclaim", zap.String("resource", string(rn)), zap.Stringer("threshold", threshold))
	if m.opts.Recorder != nil && m.opts.NodeRef != nil {
		m.opts.Recorder.Eventf(m.opts.NodeRef, v1.EventTypeWarning, "EvictionThresholdMet", "Attempting to reclaim %s", rn)
	}
	if m.reclaimNodeLevelResources(ctx, threshold.Signal, active) {
		m.log.Info("eviction manager: able to reduce resource pressure without evicting pods", zap.String("resource", string(rn)))
		return nil
	}
	if len(active) == 0 {
		m.log.Warn("eviction manager: eviction thresholds have been met, but no pods are active to evict")
		return nil
	}
	ranked := append([]*v1.Pod(nil), active...)
	signalToRank[threshold.Signal](ranked, stats)
	for _, pod := range ranked {
		if isCriticalPod(pod) {
			m.log.Warn("eviction manager: cannot evict a critical pod", zap.String("pod", pod.Namespace+"/"+pod.Name))
			continue
		}
		grace := time.Duration(0)
		if !threshold.hard() {
			grace = softGrace(pod, m.opts.MaxPodGracePeriodSeconds)
		}
		msg, annotations := evictionMessage(rn, pod, stats, met, obs)
		if m.opts.Recorder != nil {
			m.opts.Recorder.AnnotatedEventf(pod, annotations, v1.EventTypeWarning, Reason, "%s", msg)
		}
		m.log.Info("eviction manager: evicting pod", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.String("message", msg), zap.Duration("grace", grace))
		m.opts.Killer.Evict(pod, msg, grace)
		m.evictions.WithLabelValues(string(threshold.Signal)).Inc()
		return []*v1.Pod{pod}
	}
	m.log.Warn("eviction manager: unable to evict any pods from the node")
	return nil
}

// softGrace is a soft eviction's grace period: the pod's, at most
// maxSeconds (unless that is negative).
func softGrace(pod *v1.Pod, maxSeconds int64) time.Duration {
	g := maxSeconds
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
		if maxSeconds >= 0 {
			g = min(g, maxSeconds)
		}
	}
	return time.Duration(max(g, 0)) * time.Second
}

// reclaimNodeLevelResources frees what the node can for disk signals
// (unused images) and reports whether that resolved every threshold.
func (m *Manager) reclaimNodeLevelResources(ctx context.Context, s Signal, active []*v1.Pod) bool {
	if m.opts.DeleteUnusedImages == nil || signalToNodeCondition[s] != v1.NodeDiskPressure {
		return false
	}
	if err := m.opts.DeleteUnusedImages(ctx); err != nil {
		m.log.Info("eviction manager: unexpected error when attempting to reduce resource pressure", zap.Error(err))
	}
	summary, err := m.opts.Summary.Summary(active)
	if err != nil {
		return false
	}
	obs, _ := makeObservations(summary)
	return len(thresholdsMet(m.opts.Thresholds, obs, true)) == 0
}

// waitForPodsCleanup waits until the evicted pods' resources are
// reclaimed, or podCleanupTimeout.
func (m *Manager) waitForPodsCleanup(ctx context.Context, pods []*v1.Pod) {
	cleaned := m.opts.PodCleanedUp
	if cleaned == nil {
		cleaned = func(p *v1.Pod) bool {
			for _, a := range m.opts.ActivePods() {
				if a.UID == p.UID {
					return false
				}
			}
			return true
		}
	}
	timeout := time.NewTimer(podCleanupTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(podCleanupPollFreq)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timeout.C:
			m.log.Warn("eviction manager: timed out waiting for pods to be cleaned up")
			return
		case <-tick.C:
		}
		done := true
		for _, p := range pods {
			done = done && cleaned(p)
		}
		if done {
			return
		}
	}
}

// PodCgroupCleanedUp reports whether the pod's cgroup under cgroupRoot
// holds no process any more: its memory is the node's again.
func PodCgroupCleanedUp(cgroupRoot string) func(*v1.Pod) bool {
	return func(pod *v1.Pod) bool {
		dir := cgroups.MemoryDir(filepath.Join(cgroupRoot, "pod"+string(pod.UID)))
		if dir == "" {
			return true
		}
		if _, err := os.Stat(dir); err != nil {
			return true
		}
		return countProcs(dir) == 0
	}
}

// thresholdsMet returns the thresholds the observations meet, ignoring
// grace periods; with enforceMinReclaim, relative to value plus minimum
// reclaim.
func thresholdsMet(thresholds []Threshold, obs observations, enforceMinReclaim bool) []Threshold {
	var out []Threshold
	for _, t := range thresholds {
		o, ok := obs[t.Signal]
		if !ok {
			continue
		}
		q := t.Value.quantity(o.capacity)
		if enforceMinReclaim && t.MinReclaim != nil {
			q.Add(*t.MinReclaim.quantity(o.capacity))
		}
		if q.Cmp(*o.available) > 0 {
			out = append(out, t)
		}
	}
	return out
}

func containsThreshold(ts []Threshold, t Threshold) bool {
	for _, x := range ts {
		if sameThreshold(x, t) {
			return true
		}
	}
	return false
}

// nodeConditions are the conditions the thresholds report.
func nodeConditions(ts []Threshold) []v1.NodeConditionType {
	var out []v1.NodeConditionType
	for _, t := range ts {
		if c, ok := signalToNodeCondition[t.Signal]; ok && !hasCondition(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func hasCondition(cs []v1.NodeConditionType, c v1.NodeConditionType) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

func sameConditions(a, b []v1.NodeConditionType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func conditionOrder(c v1.NodeConditionType) int {
	switch c {
	case v1.NodeMemoryPressure:
		return 0
	case v1.NodeDiskPressure:
		return 1
	}
	return 2
}

func memorySignal(s Signal) bool {
	return s == SignalMemoryAvailable || s == SignalAllocatableMemoryAvailable
}

type stringer string

func (s stringer) String() string { return string(s) }
