package status

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kruntime "coracle.dev/kubelet/internal/runtime"
)

func list(kv ...string) v1.ResourceList {
	if len(kv) == 0 {
		return nil
	}
	l := v1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// TestResources follows upstream's convertContainerStatusResources
// cases: a running container reports the CPU and memory values applied
// to its cgroup, converted back; values the kernel cannot tell apart
// stay as allocated; a container not running reports its allocation.
func TestResources(t *testing.T) {
	tests := []struct {
		name    string
		alloc   v1.ResourceRequirements
		state   kruntime.ContainerState
		applied *kruntime.ContainerResources
		want    v1.ResourceRequirements
	}{
		{
			name:    "applied values read back",
			alloc:   v1.ResourceRequirements{Requests: list("cpu", "20m", "memory", "35Mi"), Limits: list("cpu", "30m", "memory", "45Mi")},
			state:   kruntime.StateRunning,
			applied: &kruntime.ContainerResources{CPUShares: 20, CPUQuota: 3000, CPUPeriod: 100000, MemoryLimit: 45 << 20},
			want:    v1.ResourceRequirements{Requests: list("cpu", "20m", "memory", "35Mi"), Limits: list("cpu", "30m", "memory", "45Mi")},
		},
		{
			name:    "applied values differing from the allocation (a resize not yet actuated)",
			alloc:   v1.ResourceRequirements{Requests: list("cpu", "25m"), Limits: list("cpu", "35m", "memory", "50Mi")},
			state:   kruntime.StateRunning,
			applied: &kruntime.ContainerResources{CPUShares: 20, CPUQuota: 3000, CPUPeriod: 100000, MemoryLimit: 45 << 20},
			want:    v1.ResourceRequirements{Requests: list("cpu", "20m"), Limits: list("cpu", "30m", "memory", "45Mi")},
		},
		{
			name:    "equivalents below the minimums stay as allocated",
			alloc:   v1.ResourceRequirements{Requests: list("cpu", "1m"), Limits: list("cpu", "5m")},
			state:   kruntime.StateRunning,
			applied: &kruntime.ContainerResources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000},
			want:    v1.ResourceRequirements{Requests: list("cpu", "1m"), Limits: list("cpu", "5m")},
		},
		{
			name:    "memory request only: no cpu request appears",
			alloc:   v1.ResourceRequirements{Requests: list("memory", "35Mi")},
			state:   kruntime.StateRunning,
			applied: &kruntime.ContainerResources{CPUShares: 2},
			want:    v1.ResourceRequirements{Requests: list("memory", "35Mi")},
		},
		{
			name:    "memory limit only: no cpu limit appears",
			alloc:   v1.ResourceRequirements{Requests: list("memory", "30Mi"), Limits: list("memory", "50Mi")},
			state:   kruntime.StateRunning,
			applied: &kruntime.ContainerResources{CPUShares: 2, MemoryLimit: 50 << 20},
			want:    v1.ResourceRequirements{Requests: list("memory", "30Mi"), Limits: list("memory", "50Mi")},
		},
		{
			name:    "not running: the allocation",
			alloc:   v1.ResourceRequirements{Requests: list("cpu", "25m")},
			state:   kruntime.StateExited,
			applied: &kruntime.ContainerResources{CPUShares: 20},
			want:    v1.ResourceRequirements{Requests: list("cpu", "25m")},
		},
		{
			name:  "best effort: empty",
			state: kruntime.StateRunning, applied: &kruntime.ContainerResources{CPUShares: 2},
			want: v1.ResourceRequirements{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Resources(&v1.Container{Resources: tt.alloc}, &kruntime.Container{State: tt.state, Resources: tt.applied})
			if !equality.Semantic.DeepEqual(*got, tt.want) || (got.Limits == nil) != (tt.want.Limits == nil) || (got.Requests == nil) != (tt.want.Requests == nil) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSharesToMilliCPU(t *testing.T) {
	// A request converted to shares (×1024/1000, rounded down) and back
	// is the request again, for the values the conformance tests use.
	for _, milli := range []int64{15, 20, 25, 35, 100, 500, 1000, 1500} {
		shares := uint64(milli * 1024 / 1000)
		if got := SharesToMilliCPU(shares); got != milli {
			t.Errorf("%dm: %d shares read back as %dm", milli, shares, got)
		}
	}
	if got := SharesToMilliCPU(1); got != 0 {
		t.Errorf("1 share: %dm, want 0", got)
	}
}

// TestComputeResizeStatus: the status carries the containers' resources
// and allocatedResources, and the resize conditions it is given, which
// replace the ones the pod had.
func TestComputeResizeStatus(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c1", Resources: v1.ResourceRequirements{Requests: list("cpu", "25m")}}}},
		Status: v1.PodStatus{Conditions: []v1.PodCondition{
			{Type: v1.PodResizePending, Status: v1.ConditionTrue, Reason: v1.PodReasonDeferred},
			{Type: v1.DisruptionTarget, Status: v1.ConditionTrue},
		}},
	}
	rt := &kruntime.Pod{Containers: []kruntime.Container{{Name: "c1", ID: "x", State: kruntime.StateRunning, Resources: &kruntime.ContainerResources{CPUShares: 25}}}}
	inProgress := v1.PodCondition{Type: v1.PodResizeInProgress, Status: v1.ConditionTrue, ObservedGeneration: 2}
	st := Compute(Input{Pod: pod, Runtime: rt, ResizeConditions: []v1.PodCondition{inProgress}, Now: time.Now()})
	cs := st.ContainerStatuses[0]
	if q := cs.AllocatedResources[v1.ResourceCPU]; q.MilliValue() != 25 {
		t.Errorf("allocatedResources %v", cs.AllocatedResources)
	}
	if cs.Resources == nil || cs.Resources.Requests.Cpu().MilliValue() != 25 {
		t.Errorf("resources %v", cs.Resources)
	}
	var types []v1.PodConditionType
	for _, c := range st.Conditions {
		types = append(types, c.Type)
	}
	want := []v1.PodConditionType{v1.PodScheduled, v1.PodInitialized, v1.ContainersReady, v1.PodReady, v1.PodResizeInProgress, v1.DisruptionTarget}
	if len(types) != len(want) {
		t.Fatalf("conditions %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("conditions %v, want %v", types, want)
		}
	}
}
