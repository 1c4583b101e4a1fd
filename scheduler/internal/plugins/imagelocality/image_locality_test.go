package imagelocality

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestScore(t *testing.T) {
	const mib = 1024 * 1024
	nodes := []*v1.Node{
		st.MakeNode("big").Image(500*mib, "registry.example/app:1").Image(300*mib, "registry.example/db:1").Obj(),
		st.MakeNode("small").Image(30*mib, "registry.example/app:1").Obj(),
		st.MakeNode("none").Obj(),
		st.MakeNode("latest").Image(500*mib, "registry.example/tool:latest").Obj(),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		// app:1 is on 2 of 4 nodes: big counts 500MiB*0.5=250MiB ->
		// (250-23)*100/(1000-23) = 23; small counts 15MiB, under the minimum.
		{"larger images held score higher, scaled by spread", st.MakePod("p").Image("registry.example/app:1").Obj(),
			map[string]int64{"big": 23, "small": 0, "none": 0, "latest": 0}},
		// Two containers: threshold 2000MiB; big has 250+75=325MiB -> (325-23)*100/1977 = 15.
		{"every container's image counts", st.MakePod("p").Image("registry.example/app:1", "registry.example/db:1").Obj(),
			map[string]int64{"big": 15, "small": 0, "none": 0}},
		{"an image named without a tag is :latest", st.MakePod("p").Image("registry.example/tool").Obj(),
			map[string]int64{"latest": 10, "big": 0}},
		{"images no node holds score nothing", st.MakePod("p").Image("registry.example/other:2").Obj(),
			map[string]int64{"big": 0, "small": 0, "none": 0}},
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
