package nodeaffinity

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestFilter(t *testing.T) {
	miss := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	nodes := []*v1.Node{
		st.MakeNode("ssd-a").Label("disk", "ssd").Label("zone", "a").Obj(),
		st.MakeNode("ssd-b").Label("disk", "ssd").Label("zone", "b").Obj(),
		st.MakeNode("hdd-a").Label("disk", "hdd").Label("zone", "a").Obj(),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"no selector: every node", st.MakePod("p").Obj(), map[string]*framework.Status{}},
		{"nodeSelector", st.MakePod("p").NodeSelector("disk", "ssd").Obj(),
			map[string]*framework.Status{"hdd-a": miss}},
		{"nodeSelector with two labels", st.MakePod("p").NodeSelector("disk", "ssd").NodeSelector("zone", "a").Obj(),
			map[string]*framework.Status{"ssd-b": miss, "hdd-a": miss}},
		{"nodeSelector matching no node", st.MakePod("p").NodeSelector("disk", "nvme").Obj(),
			map[string]*framework.Status{"ssd-a": miss, "ssd-b": miss, "hdd-a": miss}},
		{"required affinity In", st.MakePod("p").RequiredNodeAffinityIn("zone", "b").Obj(),
			map[string]*framework.Status{"ssd-a": miss, "hdd-a": miss}},
		{"nodeSelector and required affinity both apply", st.MakePod("p").NodeSelector("disk", "ssd").RequiredNodeAffinityIn("zone", "a").Obj(),
			map[string]*framework.Status{"ssd-b": miss, "hdd-a": miss}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, nil, nodes, framework.Listers{})
			st.CheckStatuses(t, st.Filter(t, f, tc.pod), tc.want)
		})
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode("a").Label("zone", "a").Label("disk", "ssd").Obj(),
		st.MakeNode("b").Label("zone", "b").Label("disk", "ssd").Obj(),
		st.MakeNode("c").Label("zone", "c").Obj(),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		{"one preference: matching nodes get 100", st.MakePod("p").PreferredNodeAffinity(5, "disk", "ssd").Obj(),
			map[string]int64{"a": 100, "b": 100, "c": 0}},
		{"weights add up and are normalised to the best", st.MakePod("p").PreferredNodeAffinity(2, "disk", "ssd").PreferredNodeAffinity(6, "zone", "a").Obj(),
			map[string]int64{"a": 100, "b": 25, "c": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, nil, nodes, framework.Listers{})
			got := st.Scores(t, f, tc.pod)
			for n, w := range tc.want {
				if got[n] != w {
					t.Errorf("node %s: score %d, want %d (all %v)", n, got[n], w, got)
				}
			}
		})
	}
}
