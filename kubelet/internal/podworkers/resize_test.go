package podworkers

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/runtime/fake"
)

func requirements(cpuReq, cpuLim, memReq, memLim string) v1.ResourceRequirements {
	r := v1.ResourceRequirements{}
	add := func(l *v1.ResourceList, name v1.ResourceName, v string) {
		if v == "" {
			return
		}
		if *l == nil {
			*l = v1.ResourceList{}
		}
		(*l)[name] = resource.MustParse(v)
	}
	add(&r.Requests, v1.ResourceCPU, cpuReq)
	add(&r.Limits, v1.ResourceCPU, cpuLim)
	add(&r.Requests, v1.ResourceMemory, memReq)
	add(&r.Limits, v1.ResourceMemory, memLim)
	return r
}

func policy(cpu, mem v1.ResourceResizeRestartPolicy) []v1.ContainerResizePolicy {
	var out []v1.ContainerResizePolicy
	if cpu != "" {
		out = append(out, v1.ContainerResizePolicy{ResourceName: v1.ResourceCPU, RestartPolicy: cpu})
	}
	if mem != "" {
		out = append(out, v1.ContainerResizePolicy{ResourceName: v1.ResourceMemory, RestartPolicy: mem})
	}
	return out
}

func TestComputeResizeActions(t *testing.T) {
	orig := requirements("20m", "30m", "35Mi", "45Mi")
	running := func(names ...string) *kruntime.Pod {
		rp := &kruntime.Pod{}
		for _, n := range names {
			rp.Containers = append(rp.Containers, kruntime.Container{Name: n, ID: n + "-0", State: kruntime.StateRunning})
		}
		return rp
	}
	type want struct {
		name             string
		restart, decease bool
	}
	tests := []struct {
		name     string
		desired  v1.ResourceRequirements
		policy   []v1.ContainerResizePolicy
		rp       *kruntime.Pod
		actuated map[string]v1.ResourceRequirements
		want     []want
	}{
		{
			name: "unchanged: nothing", desired: orig, rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
		},
		{
			name: "equal quantities written differently: nothing", desired: requirements("0.02", "30m", "35Mi", "47185920"), rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
		},
		{
			name: "cpu increase without policy: in place", desired: requirements("25m", "35m", "35Mi", "45Mi"), rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
			want:     []want{{name: "c1"}},
		},
		{
			name: "memory decrease, NotRequired: in place, a decrease", desired: requirements("20m", "30m", "30Mi", "40Mi"),
			policy: policy(v1.NotRequired, v1.NotRequired), rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
			want:     []want{{name: "c1", decease: true}},
		},
		{
			name: "memory change with RestartContainer: restart", desired: requirements("20m", "30m", "40Mi", "50Mi"),
			policy: policy(v1.NotRequired, v1.RestartContainer), rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
			want:     []want{{name: "c1", restart: true}},
		},
		{
			name: "cpu change with memory RestartContainer: in place", desired: requirements("25m", "35m", "35Mi", "45Mi"),
			policy: policy(v1.NotRequired, v1.RestartContainer), rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
			want:     []want{{name: "c1"}},
		},
		{
			name: "memory request only with RestartContainer: restart", desired: requirements("20m", "30m", "40Mi", "45Mi"),
			policy: policy("", v1.RestartContainer), rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
			want:     []want{{name: "c1", restart: true}},
		},
		{
			name: "not running: created with the allocation later", desired: requirements("25m", "35m", "35Mi", "45Mi"),
			rp:       &kruntime.Pod{Containers: []kruntime.Container{{Name: "c1", State: kruntime.StateExited}}},
			actuated: map[string]v1.ResourceRequirements{"c1": orig},
		},
		{
			name: "no actuated record: taken as actuated", desired: requirements("25m", "35m", "35Mi", "45Mi"), rp: running("c1"),
		},
		{
			name: "adding a limit: in place", desired: requirements("20m", "30m", "35Mi", "50Mi"), rp: running("c1"),
			actuated: map[string]v1.ResourceRequirements{"c1": requirements("20m", "30m", "35Mi", "")},
			want:     []want{{name: "c1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c1", Resources: tt.desired, ResizePolicy: tt.policy}}}}
			got := computeResizeActions(pod, tt.rp, tt.actuated)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d actions %+v, want %+v", len(got), got, tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.container.Name != w.name || g.restart != w.restart || g.decrease != w.decease {
					t.Errorf("action %d: %s restart=%v decrease=%v, want %+v", i, g.container.Name, g.restart, g.decrease, w)
				}
			}
		})
	}
}

func TestComputeResizeActionsDecreasesFirst(t *testing.T) {
	pod := &v1.Pod{Spec: v1.PodSpec{
		InitContainers: []v1.Container{
			{Name: "init", Resources: requirements("50m", "", "", "")},
			{Name: "sidecar", RestartPolicy: ptrTo(v1.ContainerRestartPolicyAlways), Resources: requirements("10m", "", "", "")},
		},
		Containers: []v1.Container{
			{Name: "up", Resources: requirements("30m", "", "", "")},
			{Name: "down", Resources: requirements("10m", "", "", "")},
		},
	}}
	rp := &kruntime.Pod{}
	for _, n := range []string{"init", "sidecar", "up", "down"} {
		rp.Containers = append(rp.Containers, kruntime.Container{Name: n, State: kruntime.StateRunning})
	}
	actuated := map[string]v1.ResourceRequirements{
		"init": requirements("20m", "", "", ""), "sidecar": requirements("20m", "", "", ""),
		"up": requirements("20m", "", "", ""), "down": requirements("20m", "", "", ""),
	}
	var got []string
	for _, a := range computeResizeActions(pod, rp, actuated) {
		got = append(got, a.container.Name)
	}
	// A regular init container is never resized; decreases go first.
	want := []string{"sidecar", "down", "up"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("order %v, want %v", got, want)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestDecideResize(t *testing.T) {
	node := &v1.Node{Status: v1.NodeStatus{Allocatable: v1.ResourceList{
		v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("1Gi"), v1.ResourcePods: resource.MustParse("110"),
	}}}
	podWith := func(name string, r v1.ResourceRequirements) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Resources: r}}}}
	}
	other := podWith("other", requirements("1500m", "", "512Mi", ""))
	tests := []struct {
		name       string
		desired    *v1.Pod
		node       *v1.Node
		others     []*v1.Pod
		wantFits   bool
		wantReason string
		wantMsg    string
	}{
		{name: "fits beside the others", desired: podWith("p", requirements("500m", "", "256Mi", "")), node: node, others: []*v1.Pod{other}, wantFits: true},
		{
			name: "more cpu than left: Deferred", desired: podWith("p", requirements("600m", "", "", "")), node: node, others: []*v1.Pod{other},
			wantReason: v1.PodReasonDeferred, wantMsg: "Node didn't have enough resource: cpu, requested: 600, used: 1500, capacity: 2000",
		},
		{
			name: "more memory than left: Deferred", desired: podWith("p", requirements("", "", "600Mi", "")), node: node, others: []*v1.Pod{other},
			wantReason: v1.PodReasonDeferred, wantMsg: "Node didn't have enough resource: memory, requested: 629145600, used: 536870912, capacity: 1073741824",
		},
		{
			name: "more cpu than the node: Infeasible", desired: podWith("p", requirements("3", "", "", "")), node: node, others: []*v1.Pod{other},
			wantReason: v1.PodReasonInfeasible, wantMsg: "Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000",
		},
		{
			name: "more memory than the node: Infeasible", desired: podWith("p", requirements("", "", "2Gi", "")), node: node,
			wantReason: v1.PodReasonInfeasible, wantMsg: "Node didn't have enough capacity: memory, requested: 2147483648, capacity: 1073741824",
		},
		{name: "no node object: taken", desired: podWith("p", requirements("30", "", "", "")), wantFits: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideResize(tt.desired, tt.node, tt.others)
			if got.fits != tt.wantFits || got.reason != tt.wantReason || got.message != tt.wantMsg {
				t.Errorf("got %+v, want fits=%v %s %q", got, tt.wantFits, tt.wantReason, tt.wantMsg)
			}
		})
	}
}

func TestSetResources(t *testing.T) {
	tests := []struct {
		name      string
		r         v1.ResourceRequirements
		shares    uint64
		quota     int64
		period    uint64
		memLimit  int64
		restShare bool
	}{
		{name: "requests and limits", r: requirements("20m", "30m", "35Mi", "45Mi"), shares: 20, quota: 3000, period: 100000, memLimit: 45 << 20},
		{name: "cpu request only", r: requirements("500m", "", "", ""), shares: 512},
		{name: "limit only: request is the limit", r: requirements("", "1", "", ""), shares: 1024, quota: 100000, period: 100000},
		{name: "tiny limit: at least 1ms quota, 2 shares", r: requirements("1m", "5m", "", ""), shares: 2, quota: 1000, period: 100000},
		{name: "nothing: 2 shares", r: requirements("", "", "", ""), shares: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := kruntime.ContainerConfig{MemoryLimit: 1, CPUQuota: 1, CPUPeriod: 1}
			setResources(&cfg, &v1.Container{Resources: tt.r})
			got := cfg.Resources()
			want := kruntime.ContainerResources{MemoryLimit: tt.memLimit, CPUShares: tt.shares, CPUQuota: tt.quota, CPUPeriod: tt.period}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestAllocationsPersist(t *testing.T) {
	dir := t.TempDir()
	a := newAllocations(dir)
	pa := &podAllocation{
		Allocated: map[string]v1.ResourceRequirements{"c1": requirements("20m", "", "", "")},
		Actuated:  map[string]v1.ResourceRequirements{"c1": requirements("10m", "", "", "")},
		pending:   &v1.PodCondition{Type: v1.PodResizePending},
	}
	a.mu.Lock()
	if err := a.save("uid1", pa); err != nil {
		t.Fatal(err)
	}
	a.mu.Unlock()

	// A restarted kubelet.
	b := newAllocations(dir)
	b.mu.Lock()
	got := b.get("uid1")
	b.mu.Unlock()
	if got == nil {
		t.Fatal("allocation not read back")
	}
	if q := got.Allocated["c1"].Requests[v1.ResourceCPU]; q.MilliValue() != 20 {
		t.Errorf("allocated cpu %s, want 20m", q.String())
	}
	if q := got.Actuated["c1"].Requests[v1.ResourceCPU]; q.MilliValue() != 10 {
		t.Errorf("actuated cpu %s, want 10m", q.String())
	}
	if got.pending != nil || got.backfilled {
		t.Errorf("conditions are not persisted: %+v", got)
	}
	b.forget("uid1")
	c := newAllocations(dir)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.get("uid1") != nil {
		t.Error("forgotten allocation read back")
	}
}

// TestResizeSync drives a pod's workers through a resize with the fake
// runtime and no Node object (every resize fits): the allocation
// follows the spec, the running container's recorded cgroup values
// change in place, a RestartContainer policy runs a new attempt, and the
// conditions come and go.
func TestResizeSync(t *testing.T) {
	rt := fake.New(0)
	m := New(Options{Runtime: rt})
	ctx := context.Background()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Generation: 1},
		Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "inplace", Resources: requirements("20m", "30m", "35Mi", "45Mi")},
			{Name: "restart", Resources: requirements("20m", "30m", "35Mi", "45Mi"), ResizePolicy: policy(v1.NotRequired, v1.RestartContainer)},
		}},
	}
	if got := m.handleResize(ctx, pod); got != pod {
		t.Fatal("first sync: the spec is the allocation")
	}
	if _, err := rt.EnsureSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	for _, c := range pod.Spec.Containers {
		cfg := kruntime.ContainerConfig{Name: c.Name}
		setResources(&cfg, &c)
		ctr, err := rt.CreateContainer(ctx, pod, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, pod.UID, ctr.ID); err != nil {
			t.Fatal(err)
		}
		m.setActuated(pod.UID, &c)
	}
	rp, _ := rt.GetPod(ctx, pod.UID)
	if conds := m.resizeConditions(pod, rp); len(conds) != 0 {
		t.Fatalf("conditions before a resize: %+v", conds)
	}

	resized := pod.DeepCopy()
	resized.Generation = 2
	resized.Spec.Containers[0].Resources = requirements("25m", "35m", "35Mi", "50Mi")
	resized.Spec.Containers[1].Resources = requirements("20m", "30m", "40Mi", "50Mi")
	allocated := m.handleResize(ctx, resized)
	if q := allocated.Spec.Containers[0].Resources.Limits[v1.ResourceMemory]; q.Value() != 50<<20 {
		t.Fatalf("allocated memory limit %s, want the new 50Mi", q.String())
	}
	conds := m.resizeConditions(allocated, nil)
	if len(conds) != 1 || conds[0].Type != v1.PodResizeInProgress || conds[0].ObservedGeneration != 2 || conds[0].Status != v1.ConditionTrue {
		t.Fatalf("conditions after allocating: %+v", conds)
	}

	// The restart half: the fake runtime's containers stop at once;
	// runContainer needs images, so only the in-place update is checked
	// through the runtime, the restart through the actions.
	actions := computeResizeActions(allocated, rp, m.allocs.pods[pod.UID].Actuated)
	if len(actions) != 2 || actions[0].restart || !actions[1].restart {
		t.Fatalf("actions %+v, want inplace in place then restart restarted", actions)
	}
	cfg := kruntime.ContainerConfig{}
	setResources(&cfg, &allocated.Spec.Containers[0])
	if err := rt.UpdateContainerResources(ctx, pod.UID, actions[0].running.ID, cfg.Resources()); err != nil {
		t.Fatal(err)
	}
	m.setActuated(pod.UID, &allocated.Spec.Containers[0])
	rp, _ = rt.GetPod(ctx, pod.UID)
	if got := rp.Latest("inplace").Resources; got == nil || got.MemoryLimit != 50<<20 || got.CPUQuota != 3500 || got.CPUShares != 25 {
		t.Errorf("applied resources %+v", got)
	}
	if conds := m.resizeConditions(allocated, rp); len(conds) != 1 {
		t.Errorf("in progress while the restart is pending: %+v", conds)
	}
	// The restarted container is created with the allocation.
	m.setActuated(pod.UID, &allocated.Spec.Containers[1])
	if conds := m.resizeConditions(allocated, rp); len(conds) != 0 {
		t.Errorf("conditions once actuated: %+v", conds)
	}

	// Back to the allocation: a spec equal to it clears Pending.
	infeasible := resized.DeepCopy()
	infeasible.Generation = 3
	m.opts.GetNode = func(string) *v1.Node {
		return &v1.Node{Status: v1.NodeStatus{Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")}}}
	}
	infeasible.Spec.Containers[0].Resources = requirements("2", "2", "35Mi", "50Mi")
	got := m.handleResize(ctx, infeasible)
	if q := got.Spec.Containers[0].Resources.Requests[v1.ResourceCPU]; q.MilliValue() != 25 {
		t.Errorf("an infeasible resize changed the allocation to %s", q.String())
	}
	conds = m.resizeConditions(got, rp)
	if len(conds) != 1 || conds[0].Type != v1.PodResizePending || conds[0].Reason != v1.PodReasonInfeasible ||
		conds[0].Message != "Node didn't have enough capacity: cpu, requested: 2020, capacity: 1000" || conds[0].ObservedGeneration != 3 {
		t.Errorf("conditions of an infeasible resize: %+v", conds)
	}
	m.handleResize(ctx, resized)
	if conds := m.resizeConditions(resized, rp); len(conds) != 0 {
		t.Errorf("conditions after reverting: %+v", conds)
	}
}
