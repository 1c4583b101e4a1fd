package eviction

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	lowPriority     = -1
	defaultPriority = 0
	highPriority    = 1
)

// newPod is a pod of one container named as the pod, with memory
// requests and limits ("" for none).
func newPod(name string, priority int32, request, limit string) *v1.Pod {
	c := v1.Container{Name: name, Resources: v1.ResourceRequirements{Requests: v1.ResourceList{}, Limits: v1.ResourceList{}}}
	if request != "" {
		c.Resources.Requests[v1.ResourceMemory] = resource.MustParse(request)
	}
	if limit != "" {
		c.Resources.Limits[v1.ResourceMemory] = resource.MustParse(limit)
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec:       v1.PodSpec{Priority: &priority, Containers: []v1.Container{c}},
	}
}

func memStats(usage map[*v1.Pod]string) statsFunc {
	return func(p *v1.Pod) (PodStats, bool) {
		u, ok := usage[p]
		if !ok {
			return PodStats{}, false
		}
		q := resource.MustParse(u)
		return PodStats{MemoryWorkingSetBytes: q.Value(), Containers: []ContainerStats{{Name: p.Name, MemoryWorkingSetBytes: q.Value()}}}, true
	}
}

func names(pods []*v1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

// The cases of upstream's helpers_test.go: TestOrderedByExceedsRequestMemory,
// TestOrderedByMemory, TestOrderedByPriorityMemory, and a pod with no
// stats going first.
func TestRankMemoryPressure(t *testing.T) {
	type pod struct {
		name           string
		priority       int32
		request, limit string
		usage          string // "" for no stats
	}
	cases := []struct {
		name  string
		order func([]*v1.Pod, statsFunc)
		pods  []pod
		want  []string
	}{
		{
			name:  "exceeding requests first",
			order: func(p []*v1.Pod, s statsFunc) { orderedBy(exceedsRequests(s, memoryUsage, v1.ResourceMemory))(p) },
			pods: []pod{
				{name: "below-requests", priority: -1, request: "200Mi", usage: "199Mi"},
				{name: "exceeds-requests", priority: 1, request: "100Mi", usage: "101Mi"},
			},
			want: []string{"exceeds-requests", "below-requests"},
		},
		{
			name:  "by usage above requests",
			order: func(p []*v1.Pod, s statsFunc) { orderedBy(usageAboveRequests(s, memoryUsage, v1.ResourceMemory))(p) },
			pods: []pod{
				{name: "best-effort-high", usage: "500Mi"},
				{name: "best-effort-low", usage: "300Mi"},
				{name: "burstable-high", request: "100Mi", limit: "1Gi", usage: "800Mi"},
				{name: "burstable-low", request: "100Mi", limit: "1Gi", usage: "300Mi"},
				{name: "guaranteed-high", request: "1Gi", limit: "1Gi", usage: "800Mi"},
				{name: "guaranteed-low", request: "1Gi", limit: "1Gi", usage: "200Mi"},
			},
			want: []string{"burstable-high", "best-effort-high", "best-effort-low", "burstable-low", "guaranteed-high", "guaranteed-low"},
		},
		{
			name:  "exceeding requests, then priority, then usage above requests",
			order: rankMemoryPressure,
			pods: []pod{
				{name: "below-requests-high-priority-low-usage", priority: highPriority, request: "1Gi", usage: "200Mi"},
				{name: "below-requests-high-priority-high-usage", priority: highPriority, request: "1Gi", usage: "800Mi"},
				{name: "below-requests-low-priority-low-usage", priority: lowPriority, request: "1Gi", usage: "200Mi"},
				{name: "below-requests-low-priority-high-usage", priority: lowPriority, request: "1Gi", usage: "800Mi"},
				{name: "above-requests-high-priority-low-usage", priority: highPriority, request: "100Mi", usage: "150Mi"},
				{name: "above-requests-high-priority-high-usage", priority: highPriority, request: "100Mi", usage: "600Mi"},
				{name: "above-requests-low-priority-low-usage", priority: lowPriority, usage: "50Mi"},
				{name: "above-requests-low-priority-high-usage", priority: lowPriority, usage: "500Mi"},
			},
			want: []string{
				"above-requests-low-priority-high-usage", "above-requests-low-priority-low-usage",
				"above-requests-high-priority-high-usage", "above-requests-high-priority-low-usage",
				"below-requests-low-priority-high-usage", "below-requests-low-priority-low-usage",
				"below-requests-high-priority-high-usage", "below-requests-high-priority-low-usage",
			},
		},
		{
			name:  "a pod without stats first",
			order: rankMemoryPressure,
			pods: []pod{
				{name: "hog", priority: lowPriority, usage: "2Gi"},
				{name: "unknown", priority: highPriority, request: "1Gi"},
			},
			want: []string{"unknown", "hog"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*v1.Pod
			usage := map[*v1.Pod]string{}
			for _, p := range tc.pods {
				pp := newPod(p.name, p.priority, p.request, p.limit)
				pods = append(pods, pp)
				if p.usage != "" {
					usage[pp] = p.usage
				}
			}
			tc.order(pods, memStats(usage))
			got := names(pods)
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("order %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// Upstream's TestOrderedByPriorityProcess: priority, then processes.
func TestRankPIDPressure(t *testing.T) {
	procs := map[string]int64{"low-priority-high-usage": 5, "low-priority-low-usage": 3, "high-priority-high-usage": 5, "high-priority-low-usage": 3}
	pods := []*v1.Pod{
		newPod("high-priority-low-usage", highPriority, "", ""), newPod("high-priority-high-usage", highPriority, "", ""),
		newPod("low-priority-low-usage", lowPriority, "", ""), newPod("low-priority-high-usage", lowPriority, "", ""),
	}
	rankPIDPressure(pods, func(p *v1.Pod) (PodStats, bool) { return PodStats{Processes: procs[p.Name]}, true })
	want := []string{"low-priority-high-usage", "low-priority-low-usage", "high-priority-high-usage", "high-priority-low-usage"}
	if got := names(pods); !equalStrings(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// Disk pressure ranks by ephemeral-storage usage against requests.
func TestRankDiskPressure(t *testing.T) {
	withRequest := newPod("requests-1Gi-uses-900Mi", defaultPriority, "", "")
	withRequest.Spec.Containers[0].Resources.Requests[v1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
	pods := []*v1.Pod{withRequest, newPod("uses-100Mi", highPriority, "", ""), newPod("uses-50Mi", lowPriority, "", "")}
	usage := map[string]string{"requests-1Gi-uses-900Mi": "900Mi", "uses-100Mi": "100Mi", "uses-50Mi": "50Mi"}
	rankDiskPressure(pods, func(p *v1.Pod) (PodStats, bool) {
		q := resource.MustParse(usage[p.Name])
		return PodStats{DiskBytes: q.Value()}, true
	})
	want := []string{"uses-50Mi", "uses-100Mi", "requests-1Gi-uses-900Mi"}
	if got := names(pods); !equalStrings(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func equalStrings(a, b []string) bool {
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

// The message and annotations of upstream's evictionMessage.
func TestEvictionMessage(t *testing.T) {
	hog := newPod("hog-pod", defaultPriority, "", "")
	hog.Spec.Containers = append(hog.Spec.Containers, v1.Container{Name: "quiet", Resources: v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse("100Mi")}}})
	hog.Spec.Containers[0].Name = "hog"
	stats := func(*v1.Pod) (PodStats, bool) {
		return PodStats{Containers: []ContainerStats{{Name: "hog", MemoryWorkingSetBytes: 400 << 20}, {Name: "quiet", MemoryWorkingSetBytes: 50 << 20}}}, true
	}
	th, _ := ParseThresholds(Flags{Hard: "memory.available<100Mi"})
	obs := observations{SignalMemoryAvailable: {available: resource.NewQuantity(50<<20, resource.BinarySI), capacity: resource.NewQuantity(1<<30, resource.BinarySI)}}
	msg, ann := evictionMessage(v1.ResourceMemory, hog, stats, th, obs)
	want := "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container hog was using 400Mi, request is 0, has larger consumption of memory. "
	if msg != want {
		t.Errorf("message\n%q, want\n%q", msg, want)
	}
	if ann[OffendingContainersKey] != "hog" || ann[OffendingContainersUsageKey] != "400Mi" || ann[StarvedResourceKey] != "memory" {
		t.Errorf("annotations %v", ann)
	}
}

func TestIsCriticalPodAndQOS(t *testing.T) {
	static := newPod("static", 0, "", "")
	static.Annotations = map[string]string{configSourceAnnotationKey: "file"}
	mirror := newPod("mirror", 0, "", "")
	mirror.Annotations = map[string]string{v1.MirrorPodAnnotationKey: "x"}
	nodeCritical := newPod("node-critical", 2000001000, "", "")
	api := newPod("api", 0, "", "")
	api.Annotations = map[string]string{configSourceAnnotationKey: "api"}
	for _, c := range []struct {
		pod                  *v1.Pod
		critical, besteffort bool
	}{
		{static, true, true}, {mirror, true, true}, {nodeCritical, true, true}, {api, false, true},
		{newPod("burstable", 0, "1Mi", ""), false, false}, {newPod("limited", 0, "", "1Gi"), false, false},
	} {
		if got := isCriticalPod(c.pod); got != c.critical {
			t.Errorf("%s: critical %v, want %v", c.pod.Name, got, c.critical)
		}
		if got := isBestEffort(c.pod); got != c.besteffort {
			t.Errorf("%s: BestEffort %v, want %v", c.pod.Name, got, c.besteffort)
		}
	}
}
