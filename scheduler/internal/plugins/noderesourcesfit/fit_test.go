package noderesourcesfit

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestFilter(t *testing.T) {
	const gpu v1.ResourceName = "example.com/gpu"
	rej := func(code framework.Code, reasons ...string) *framework.Status {
		return framework.NewStatus(code, reasons...)
	}
	node := st.MakeNode("n").Capacity("4", "8Gi", "3").Allocatable(gpu, "2").Obj()
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     *framework.Status
	}{
		{"empty node has room", st.MakePod("p").Req("2", "4Gi").Obj(), nil, nil},
		{"exactly full fits", st.MakePod("p").Req("1", "1Gi").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("3", "7Gi").Obj()}, nil},
		{"cpu short", st.MakePod("p").Req("2", "1Gi").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("3", "1Gi").Obj()}, rej(framework.Unschedulable, "Insufficient cpu")},
		{"memory short", st.MakePod("p").Req("1", "2Gi").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("1", "7Gi").Obj()}, rej(framework.Unschedulable, "Insufficient memory")},
		{"both short, both named", st.MakePod("p").Req("2", "2Gi").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("3", "7Gi").Obj()}, rej(framework.Unschedulable, "Insufficient cpu", "Insufficient memory")},
		{"more than the node has at all cannot be resolved by preemption", st.MakePod("p").Req("5", "").Obj(), nil,
			rej(framework.UnschedulableAndUnresolvable, "Insufficient cpu")},
		{"pod slots", st.MakePod("p").Obj(),
			[]*v1.Pod{st.MakePod("a").Node("n").Obj(), st.MakePod("b").Node("n").Obj(), st.MakePod("c").Node("n").Obj()},
			rej(framework.Unschedulable, ErrReasonTooManyPods)},
		{"a pod requesting nothing fits a full node with slots", st.MakePod("p").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("4", "8Gi").Obj()}, nil},
		{"extended resource fits", st.MakePod("p").ReqRes(gpu, "2").Obj(), nil, nil},
		{"extended resource short", st.MakePod("p").ReqRes(gpu, "1").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").ReqRes(gpu, "2").Obj()}, rej(framework.Unschedulable, "Insufficient example.com/gpu")},
		{"extended resource the node lacks", st.MakePod("p").ReqRes("example.com/fpga", "1").Obj(), nil,
			rej(framework.UnschedulableAndUnresolvable, "Insufficient example.com/fpga")},
		{"init container larger than the containers counts", st.MakePod("p").Req("1", "").Init("3", false).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("2", "").Obj()}, rej(framework.Unschedulable, "Insufficient cpu")},
		{"init container smaller than the containers does not add", st.MakePod("p").Req("2", "").Init("1", false).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("2", "").Obj()}, nil},
		{"sidecar init container adds to the containers", st.MakePod("p").Req("2", "").Init("1", true).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("2", "").Obj()}, rej(framework.Unschedulable, "Insufficient cpu")},
		{"containers are summed", st.MakePod("p").Req("1", "").Container("1").Container("1").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("2", "").Obj()}, rej(framework.Unschedulable, "Insufficient cpu")},
		{"overhead counts", st.MakePod("p").Req("2", "").Overhead("500m").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("2", "").Obj()}, rej(framework.Unschedulable, "Insufficient cpu")},
		{"existing pods' init containers count as Kubernetes counts them", st.MakePod("p").Req("2", "").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").Req("1", "").Init("3", false).Obj()}, rej(framework.Unschedulable, "Insufficient cpu")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, tc.existing, []*v1.Node{node}, framework.Listers{})
			if got := st.Filter(t, f, tc.pod)["n"]; !got.Equal(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScoreLeastAllocated(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode("empty").Capacity("4", "8Gi", "110").Obj(),
		st.MakeNode("half").Capacity("4", "8Gi", "110").Obj(),
		st.MakeNode("big").Capacity("8", "16Gi", "110").Obj(),
	}
	existing := []*v1.Pod{st.MakePod("e").Node("half").Req("2", "4Gi").Obj()}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		// (4-1)/4 = 75 cpu, (8-2)/8 = 75 memory -> 75; half: (4-3)/4=25, (8-6)/8=25;
		// big: (8-1)/8=87, (16-2)/16=87.
		{"free share after placement, averaged", st.MakePod("p").Req("1", "2Gi").Obj(),
			map[string]int64{"empty": 75, "half": 25, "big": 87}},
		// No requests: 100m and 200Mi are assumed for scoring.
		{"best-effort pods count Kubernetes' defaults", st.MakePod("p").Obj(),
			map[string]int64{"empty": 97, "half": 47, "big": 98}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, existing, nodes, framework.Listers{})
			got := st.Scores(t, f, tc.pod)
			for n, w := range tc.want {
				if got[n] != w {
					t.Errorf("node %s: score %d, want %d (all %v)", n, got[n], w, got)
				}
			}
		})
	}
}
