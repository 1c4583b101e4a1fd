package balancedallocation

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode("a").Capacity("4", "8Gi", "110").Obj(),
		st.MakeNode("b").Capacity("4", "8Gi", "110").Obj(),
	}
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     map[string]int64
	}{
		// a: cpu 2/4=0.5, mem 4/8=0.5 -> std 0 -> 100.
		// b: existing 2 cpu: cpu 4/4=1, mem 4/8=0.5 -> std 0.25 -> 75.
		{"balanced use scores higher", st.MakePod("p").Req("2", "4Gi").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("b").Req("2", "").Obj()},
			map[string]int64{"a": 100, "b": 75}},
		// cpu 1/4=0.25, mem 6/8=0.75 -> std 0.25 -> 75 on both.
		{"skewed pod", st.MakePod("p").Req("1", "6Gi").Obj(), nil,
			map[string]int64{"a": 75, "b": 75}},
		// Fractions are capped at 1: cpu 6/4 -> 1, mem 0 -> std 0.5 -> 50.
		{"over-requests are capped", st.MakePod("p").Req("6", "").Obj(), nil,
			map[string]int64{"a": 50, "b": 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, tc.existing, nodes, framework.Listers{})
			got := st.Scores(t, f, tc.pod)
			for n, w := range tc.want {
				if got[n] != w {
					t.Errorf("node %s: score %d, want %d", n, got[n], w)
				}
			}
		})
	}
}

func TestBestEffortPodSkips(t *testing.T) {
	f := st.Plugin(t, Name, New, nil, []*v1.Node{st.MakeNode("a").Obj()}, framework.Listers{})
	if got := st.Scores(t, f, st.MakePod("p").Obj()); got["a"] != 0 {
		t.Errorf("score %d, want 0 (skipped)", got["a"])
	}
}
