package interpodaffinity

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

const hostname, zone = v1.LabelHostname, v1.LabelTopologyZone

var nodes = []*v1.Node{
	st.MakeNode("a1").Label(zone, "a").Obj(),
	st.MakeNode("a2").Label(zone, "a").Obj(),
	st.MakeNode("b1").Label(zone, "b").Obj(),
	st.MakeNode("nozone").Obj(),
}

func TestFilter(t *testing.T) {
	aff := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	anti := framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	existingAnti := framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     map[string]*framework.Status
	}{
		{"no terms anywhere: every node", st.MakePod("p").Label("app", "web").Obj(),
			[]*v1.Pod{st.MakePod("db").Label("app", "db").Node("a1").Obj()}, map[string]*framework.Status{}},
		{"affinity by zone: only the zone with a matching pod, and not a node lacking the key",
			st.MakePod("p").PodAffinity("app", "db", zone).Obj(),
			[]*v1.Pod{st.MakePod("db").Label("app", "db").Node("a1").Obj()},
			map[string]*framework.Status{"b1": aff, "nozone": aff}},
		{"affinity by hostname: only that node", st.MakePod("p").PodAffinity("app", "db", hostname).Obj(),
			[]*v1.Pod{st.MakePod("db").Label("app", "db").Node("b1").Obj()},
			map[string]*framework.Status{"a1": aff, "a2": aff, "nozone": aff}},
		{"affinity with no matching pod anywhere rejects every node", st.MakePod("p").PodAffinity("app", "db", zone).Obj(), nil,
			map[string]*framework.Status{"a1": aff, "a2": aff, "b1": aff, "nozone": aff}},
		{"the first pod of a group attracted to itself may go anywhere with the key",
			st.MakePod("p").Label("app", "cache").PodAffinity("app", "cache", zone).Obj(), nil,
			map[string]*framework.Status{"nozone": aff}},
		{"affinity only counts pods in the term's namespace", st.MakePod("p").PodAffinity("app", "db", zone).Obj(),
			[]*v1.Pod{st.MakePod("db").Namespace("other").Label("app", "db").Node("a1").Obj()},
			map[string]*framework.Status{"a1": aff, "a2": aff, "b1": aff, "nozone": aff}},
		{"anti-affinity by hostname: not the node with a matching pod", st.MakePod("p").Label("app", "web").PodAntiAffinity("app", "web", hostname).Obj(),
			[]*v1.Pod{st.MakePod("w").Label("app", "web").Node("a1").Obj()},
			map[string]*framework.Status{"a1": anti}},
		{"anti-affinity by zone: not the zone", st.MakePod("p").PodAntiAffinity("app", "web", zone).Obj(),
			[]*v1.Pod{st.MakePod("w").Label("app", "web").Node("a1").Obj()},
			map[string]*framework.Status{"a1": anti, "a2": anti}},
		{"an existing pod's anti-affinity keeps the pod out of its zone", st.MakePod("p").Label("app", "web").Obj(),
			[]*v1.Pod{st.MakePod("loner").PodAntiAffinity("app", "web", zone).Node("b1").Obj()},
			map[string]*framework.Status{"b1": existingAnti}},
		{"an existing pod's anti-affinity that does not select the pod", st.MakePod("p").Label("app", "api").Obj(),
			[]*v1.Pod{st.MakePod("loner").PodAntiAffinity("app", "web", zone).Node("b1").Obj()},
			map[string]*framework.Status{}},
		{"affinity and anti-affinity together", st.MakePod("p").Label("app", "web").PodAffinity("app", "db", zone).PodAntiAffinity("app", "web", hostname).Obj(),
			[]*v1.Pod{st.MakePod("db").Label("app", "db").Node("a1").Obj(), st.MakePod("w").Label("app", "web").Node("a2").Obj()},
			map[string]*framework.Status{"a2": anti, "b1": aff, "nozone": aff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, tc.existing, nodes, framework.Listers{})
			st.CheckStatuses(t, st.Filter(t, f, tc.pod), tc.want)
		})
	}
}

// TestRemovePod checks that preemption's RemovePod lifts the rule of a
// removed pod.
func TestRemovePod(t *testing.T) {
	existing := []*v1.Pod{st.MakePod("loner").Priority(0).PodAntiAffinity("app", "web", hostname).Node("a1").Obj()}
	f := st.Plugin(t, Name, New, existing, nodes, framework.Listers{})
	ctx := context.Background()
	pod := framework.NewPodInfo(st.MakePod("p").Label("app", "web").Obj())
	state := framework.NewCycleState()
	if s := f.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() {
		t.Fatal(s)
	}
	a1 := f.SnapshotSharedLister().Get("a1").Clone()
	if s, _ := f.RunFilterPlugins(ctx, state, pod, a1); s.IsSuccess() {
		t.Fatal("a1 should be rejected before the removal")
	}
	c := state.Clone()
	loner := a1.Pods[0]
	if err := a1.RemovePod(loner.Pod); err != nil {
		t.Fatal(err)
	}
	if s := f.RunPreFilterExtensionRemovePod(ctx, c, pod, loner, a1); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s, _ := f.RunFilterPlugins(ctx, c, pod, a1); !s.IsSuccess() {
		t.Errorf("after removing the pod with the anti-affinity: %v", s)
	}
	if s, _ := f.RunFilterPlugins(ctx, state, pod, f.SnapshotSharedLister().Get("a1")); s.IsSuccess() {
		t.Error("the original state changed")
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     map[string]int64
	}{
		{"preferred affinity: the zone with matching pods scores highest",
			st.MakePod("p").PreferredPodAffinity(5, "app", "db", zone).Obj(),
			[]*v1.Pod{st.MakePod("db").Label("app", "db").Node("a1").Obj()},
			map[string]int64{"a1": 100, "a2": 100, "b1": 0, "nozone": 0}},
		{"preferred anti-affinity: the zone with matching pods scores lowest",
			st.MakePod("p").PreferredPodAntiAffinity(5, "app", "web", zone).Obj(),
			[]*v1.Pod{st.MakePod("w").Label("app", "web").Node("b1").Obj()},
			map[string]int64{"a1": 100, "a2": 100, "b1": 0, "nozone": 100}},
		{"weights add up", st.MakePod("p").PreferredPodAffinity(8, "app", "db", zone).PreferredPodAffinity(2, "app", "cache", hostname).Obj(),
			[]*v1.Pod{st.MakePod("db").Label("app", "db").Node("a1").Obj(), st.MakePod("c").Label("app", "cache").Node("b1").Obj()},
			map[string]int64{"a1": 100, "a2": 100, "b1": 25, "nozone": 0}},
		{"an existing pod's preferred affinity to the pod attracts it",
			st.MakePod("p").Label("app", "web").Obj(),
			[]*v1.Pod{st.MakePod("fan").PreferredPodAffinity(10, "app", "web", hostname).Node("a2").Obj()},
			map[string]int64{"a2": 100, "a1": 0, "b1": 0}},
		{"an existing pod's required affinity to the pod attracts it with the hard weight",
			st.MakePod("p").Label("app", "web").Obj(),
			[]*v1.Pod{st.MakePod("fan").PodAffinity("app", "web", zone).Node("b1").Obj()},
			map[string]int64{"b1": 100, "a1": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, tc.existing, nodes, framework.Listers{})
			got := st.Scores(t, f, tc.pod)
			for n, w := range tc.want {
				if got[n] != w {
					t.Errorf("node %s: score %d, want %d (all %v)", n, got[n], w, got)
				}
			}
		})
	}
}
