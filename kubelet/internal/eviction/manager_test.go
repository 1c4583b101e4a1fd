package eviction

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
)

// fakeSummary gives the summary the test set.
type fakeSummary struct {
	mu sync.Mutex
	s  Summary
}

func (f *fakeSummary) Summary([]*v1.Pod) (*Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.s
	return &s, nil
}

func (f *fakeSummary) set(fn func(*Summary)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.s)
}

type evicted struct {
	pod     string
	message string
	grace   time.Duration
}

type fakeKiller struct{ evicted []evicted }

func (k *fakeKiller) Evict(pod *v1.Pod, message string, grace time.Duration) {
	k.evicted = append(k.evicted, evicted{pod.Name, message, grace})
}

type harness struct {
	m        *Manager
	summary  *fakeSummary
	killer   *fakeKiller
	clock    *testingclock.FakeClock
	recorder *record.FakeRecorder
	pods     []*v1.Pod
	imageGC  func()
	registry *prometheus.Registry
}

const mi = 1 << 20

func newHarness(t *testing.T, flags Flags, transition time.Duration, pods ...*v1.Pod) *harness {
	t.Helper()
	th, err := ParseThresholds(flags)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		summary: &fakeSummary{s: Summary{
			Memory:  &MemoryStats{CapacityBytes: 4096 * mi, WorkingSetBytes: 1024 * mi},
			NodeFs:  &FsStats{CapacityBytes: 100 << 30, AvailableBytes: 50 << 30, Inodes: 1000, InodesFree: 900},
			ImageFs: &FsStats{CapacityBytes: 100 << 30, AvailableBytes: 50 << 30, Inodes: 1000, InodesFree: 900},
			PIDs:    &PIDStats{MaxPID: 1000, Processes: 100},
			Pods:    map[types.UID]PodStats{},
		}},
		killer: &fakeKiller{}, clock: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		recorder: record.NewFakeRecorder(100), pods: pods, registry: prometheus.NewRegistry(),
	}
	h.m = New(Options{
		Thresholds: th, PressureTransitionPeriod: transition, MaxPodGracePeriodSeconds: 10,
		Summary: h.summary, ActivePods: func() []*v1.Pod { return h.pods }, Killer: h.killer,
		DeleteUnusedImages: func(context.Context) error {
			if h.imageGC != nil {
				h.imageGC()
			}
			return nil
		},
		Recorder: h.recorder, NodeRef: &v1.ObjectReference{Kind: "Node", Name: "n"},
		Metrics: h.registry, Clock: h.clock,
	})
	return h
}

func (h *harness) memoryAvailable(avail int64) {
	h.summary.set(func(s *Summary) { s.Memory.WorkingSetBytes = s.Memory.CapacityBytes - avail })
}

func (h *harness) podStats(name string, ps PodStats) {
	h.summary.set(func(s *Summary) { s.Pods[types.UID(name)] = ps })
}

func (h *harness) round(t *testing.T) []*v1.Pod {
	t.Helper()
	return h.m.synchronize(context.Background())
}

// A hard memory threshold: MemoryPressure at once, the BestEffort pod
// over its (no) request evicted with grace 0, upstream's message and
// event, the counter; BestEffort pods refused, others admitted.
func TestHardMemoryEviction(t *testing.T) {
	hog := newPod("hog", defaultPriority, "", "")
	quiet := newPod("quiet", defaultPriority, "200Mi", "")
	h := newHarness(t, Flags{Hard: DefaultEvictionHard}, 5*time.Minute, quiet, hog)
	h.podStats("hog", PodStats{MemoryWorkingSetBytes: 400 * mi, Containers: []ContainerStats{{Name: "hog", MemoryWorkingSetBytes: 400 * mi}}})
	h.podStats("quiet", PodStats{MemoryWorkingSetBytes: 100 * mi, Containers: []ContainerStats{{Name: "quiet", MemoryWorkingSetBytes: 100 * mi}}})

	if got := h.round(t); got != nil {
		t.Fatalf("evicted %v without pressure", names(got))
	}
	if ok, _, _ := h.m.Admit(newPod("be", 0, "", "")); !ok {
		t.Error("BestEffort pod refused without pressure")
	}

	h.memoryAvailable(50 * mi)
	got := h.round(t)
	if len(got) != 1 || got[0].Name != "hog" {
		t.Fatalf("evicted %v, want hog", names(got))
	}
	want := "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container hog was using 400Mi, request is 0, has larger consumption of memory. "
	if len(h.killer.evicted) != 1 || h.killer.evicted[0] != (evicted{"hog", want, 0}) {
		t.Errorf("Evict calls %+v, want hog with %q and grace 0", h.killer.evicted, want)
	}
	events := drain(h.recorder)
	if !contains(events, "Warning EvictionThresholdMet Attempting to reclaim memory") || !contains(events, "Warning Evicted "+want) {
		t.Errorf("events %q", events)
	}
	if !h.m.IsUnderPressure(v1.NodeMemoryPressure) || h.m.IsUnderPressure(v1.NodeDiskPressure) {
		t.Errorf("conditions %v, want [MemoryPressure]", h.m.Conditions())
	}
	if n := counter(t, h, "memory.available"); n != 1 {
		t.Errorf("kubelet_evictions{eviction_signal=memory.available} = %v, want 1", n)
	}

	ok, reason, msg := h.m.Admit(newPod("be", 0, "", ""))
	if ok || reason != "Evicted" || msg != "The node had condition: [MemoryPressure]. " {
		t.Errorf("BestEffort admission: %v %q %q", ok, reason, msg)
	}
	if ok, _, _ := h.m.Admit(newPod("burstable", 0, "10Mi", "")); !ok {
		t.Error("Burstable pod refused under memory pressure")
	}
	tolerating := newPod("tolerating", 0, "", "")
	tolerating.Spec.Tolerations = []v1.Toleration{{Key: v1.TaintNodeMemoryPressure, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}
	if ok, _, _ := h.m.Admit(tolerating); !ok {
		t.Error("BestEffort pod tolerating memory-pressure refused")
	}
}

// The condition stays True for the transition period after the signal
// recovers, as upstream's nodeConditionsObservedSince.
func TestPressureTransitionPeriod(t *testing.T) {
	h := newHarness(t, Flags{Hard: "memory.available<100Mi"}, 5*time.Minute)
	changes := 0
	h.m.opts.ConditionsChanged = func() { changes++ }
	h.memoryAvailable(50 * mi)
	h.round(t)
	h.memoryAvailable(2048 * mi)
	for _, step := range []struct {
		after time.Duration
		want  bool
	}{{time.Minute, true}, {3 * time.Minute, true}, {time.Minute - time.Second, true}, {2 * time.Second, false}} {
		h.clock.Step(step.after)
		h.round(t)
		if got := h.m.IsUnderPressure(v1.NodeMemoryPressure); got != step.want {
			t.Fatalf("%v after recovery: MemoryPressure %v, want %v", h.clock.Now().Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), got, step.want)
		}
	}
	if changes != 2 {
		t.Errorf("ConditionsChanged called %d times, want 2 (on and off)", changes)
	}
	if len(h.killer.evicted) != 0 {
		t.Errorf("evicted %+v with no pods", h.killer.evicted)
	}
}

// A soft threshold reports pressure at once but evicts only after its
// grace period, with the pod's grace period capped by
// --eviction-max-pod-grace-period.
func TestSoftThresholdGracePeriod(t *testing.T) {
	pod := newPod("pod", defaultPriority, "", "")
	thirty := int64(30)
	pod.Spec.TerminationGracePeriodSeconds = &thirty
	h := newHarness(t, Flags{Soft: "memory.available<1Gi", SoftGracePeriod: "memory.available=1m"}, time.Minute, pod)
	h.podStats("pod", PodStats{MemoryWorkingSetBytes: 100 * mi})
	h.memoryAvailable(512 * mi)
	if got := h.round(t); got != nil {
		t.Fatalf("evicted %v before the grace period", names(got))
	}
	if !h.m.IsUnderPressure(v1.NodeMemoryPressure) {
		t.Error("no MemoryPressure while the soft threshold is met")
	}
	h.clock.Step(59 * time.Second)
	if got := h.round(t); got != nil {
		t.Fatalf("evicted %v before the grace period", names(got))
	}
	h.clock.Step(time.Second)
	if got := h.round(t); len(got) != 1 {
		t.Fatalf("evicted %v after the grace period, want pod", names(got))
	}
	if g := h.killer.evicted[0].grace; g != 10*time.Second {
		t.Errorf("grace %v, want 10s (min of the pod's 30s and the max 10s)", g)
	}

	// Recovering restarts the grace period.
	h.memoryAvailable(2 * 1024 * mi)
	h.clock.Step(time.Second)
	h.round(t)
	h.memoryAvailable(512 * mi)
	h.clock.Step(time.Second)
	if got := h.round(t); got != nil {
		t.Errorf("evicted %v right after the threshold was met again", names(got))
	}
}

func TestSoftGrace(t *testing.T) {
	pod := newPod("p", 0, "", "")
	five, sixty := int64(5), int64(60)
	for _, c := range []struct {
		podGrace *int64
		max      int64
		want     time.Duration
	}{
		{nil, 10, 10 * time.Second}, {&five, 10, 5 * time.Second}, {&sixty, 10, 10 * time.Second},
		{&sixty, -1, 60 * time.Second}, {&sixty, 0, 0},
	} {
		pod.Spec.TerminationGracePeriodSeconds = c.podGrace
		if got := softGrace(pod, c.max); got != c.want {
			t.Errorf("pod grace %v, max %d: %v, want %v", c.podGrace, c.max, got, c.want)
		}
	}
}

// Disk pressure frees unused images first; only if that is not enough
// is a pod evicted, the largest disk user.
func TestDiskPressureReclaimsImagesFirst(t *testing.T) {
	small, big := newPod("small", defaultPriority, "", ""), newPod("big", defaultPriority, "", "")
	h := newHarness(t, Flags{Hard: DefaultEvictionHard}, time.Minute, small, big)
	h.podStats("small", PodStats{DiskBytes: 10 * mi})
	h.podStats("big", PodStats{DiskBytes: 900 * mi, Containers: []ContainerStats{{Name: "big", DiskBytes: 900 * mi}}})
	full := func(s *Summary) { s.NodeFs.AvailableBytes = 5 << 30; s.ImageFs.AvailableBytes = 5 << 30 }
	h.summary.set(full)
	gcs := 0
	h.imageGC = func() {
		gcs++
		h.summary.set(func(s *Summary) { s.NodeFs.AvailableBytes = 30 << 30; s.ImageFs.AvailableBytes = 30 << 30 })
	}
	if got := h.round(t); got != nil || gcs != 1 {
		t.Fatalf("evicted %v with image GC run %d times; want none and 1", names(got), gcs)
	}
	if !h.m.IsUnderPressure(v1.NodeDiskPressure) {
		t.Error("no DiskPressure")
	}
	ok, reason, msg := h.m.Admit(newPod("burstable", 0, "10Mi", ""))
	if ok || reason != "Evicted" || msg != "The node had condition: [DiskPressure]. " {
		t.Errorf("admission under disk pressure: %v %q %q", ok, reason, msg)
	}

	// Image GC frees nothing: the biggest user goes.
	h.summary.set(full)
	h.imageGC = func() { gcs++ }
	got := h.round(t)
	if len(got) != 1 || got[0].Name != "big" {
		t.Fatalf("evicted %v, want big", names(got))
	}
	if m := h.killer.evicted[0].message; !strings.HasPrefix(m, "The node was low on resource: ephemeral-storage. Threshold quantity: ") ||
		!strings.HasSuffix(m, "Container big was using 900Mi, request is 0, has larger consumption of ephemeral-storage. ") {
		t.Errorf("message %q", m)
	}
}

// Static, mirror and system-critical pods are never evicted; PID
// pressure ranks by processes.
func TestCriticalPodsAreNotEvicted(t *testing.T) {
	static := newPod("static", defaultPriority, "", "")
	static.Annotations = map[string]string{configSourceAnnotationKey: "file"}
	critical := newPod("critical", 2000001000, "", "")
	h := newHarness(t, Flags{Hard: "pid.available<10%"}, time.Minute, static, critical)
	h.podStats("static", PodStats{Processes: 500})
	h.podStats("critical", PodStats{Processes: 300})
	h.summary.set(func(s *Summary) { s.PIDs.Processes = 950 })
	if got := h.round(t); got != nil {
		t.Fatalf("evicted critical pods %v", names(got))
	}
	if !h.m.IsUnderPressure(v1.NodePIDPressure) {
		t.Error("no PIDPressure")
	}
	if ok, _, _ := h.m.Admit(newPod("other", 0, "1Mi", "")); ok {
		t.Error("pod admitted under PID pressure")
	}
	if ok, _, _ := h.m.Admit(static); !ok {
		t.Error("static pod refused under PID pressure")
	}
	h.pods = append(h.pods, newPod("forky", defaultPriority, "", ""), newPod("calm", defaultPriority, "", ""))
	h.podStats("forky", PodStats{Processes: 100})
	h.podStats("calm", PodStats{Processes: 1})
	if got := h.round(t); len(got) != 1 || got[0].Name != "forky" {
		t.Fatalf("evicted %v, want forky", names(got))
	}
}

// A met threshold with a minimum reclaim stays met until the signal is
// above threshold plus minimum reclaim; allocatableMemory.available
// follows the hard memory.available threshold.
func TestMinimumReclaimAndAllocatable(t *testing.T) {
	pod := newPod("pod", defaultPriority, "", "")
	h := newHarness(t, Flags{Hard: "memory.available<100Mi", MinimumReclaim: "memory.available=500Mi", EnforcePods: true}, 0, pod)
	h.podStats("pod", PodStats{MemoryWorkingSetBytes: 900 * mi})
	h.summary.set(func(s *Summary) { s.PodsMemory = &MemoryStats{CapacityBytes: 1000 * mi, WorkingSetBytes: 950 * mi} })
	got := h.round(t)
	if len(got) != 1 || h.killer.evicted[0].message[:len("The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. ")] !=
		"The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. " {
		t.Fatalf("evicted %v %+v, want pod for allocatableMemory.available", names(got), h.killer.evicted)
	}
	if n := counter(t, h, "allocatableMemory.available"); n != 1 {
		t.Errorf("kubelet_evictions{eviction_signal=allocatableMemory.available} = %v", n)
	}
	// 300Mi available: above the threshold, not above threshold plus
	// minimum reclaim.
	h.summary.set(func(s *Summary) { s.PodsMemory.WorkingSetBytes = 700 * mi })
	h.clock.Step(time.Second)
	if got := h.round(t); len(got) != 1 {
		t.Fatalf("evicted %v, want another: minimum reclaim not met", names(got))
	}
	h.summary.set(func(s *Summary) { s.PodsMemory.WorkingSetBytes = 300 * mi })
	h.clock.Step(time.Second)
	if got := h.round(t); got != nil {
		t.Fatalf("evicted %v after the minimum reclaim was met", names(got))
	}
	if h.m.IsUnderPressure(v1.NodeMemoryPressure) {
		t.Error("MemoryPressure with no transition period after recovery")
	}
}

func drain(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, s) {
			return true
		}
	}
	return false
}

// counter reads kubelet_evictions of a signal from the registry the
// manager registered it on.
func counter(t *testing.T, h *harness, signal string) float64 {
	t.Helper()
	mfs, err := h.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kubelet_evictions" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "eviction_signal" && l.GetValue() == signal {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
