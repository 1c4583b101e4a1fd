package algorithm_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/algorithm"
	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
	"coracle.dev/scheduler/internal/plugins"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		percentage int32
		nodes      int
		want       int
	}{
		{0, 10, 10},
		{0, 99, 99},
		{0, 100, 100},   // 50% is 50, but never under 100
		{0, 1000, 420},  // 50 - 8 = 42%
		{0, 5000, 500},  // 50 - 40 = 10%
		{0, 10000, 500}, // 5% floor
		{30, 1000, 300},
		{100, 5000, 5000},
		{1, 1000, 100}, // never under 100
	}
	for _, tc := range tests {
		want := tc.want
		if got := algorithm.NumFeasibleNodesToFind(tc.percentage, tc.nodes); got != want {
			t.Errorf("percentage %d of %d nodes: %d, want %d", tc.percentage, tc.nodes, got, want)
		}
	}
}

func newAlgorithm(t *testing.T, pods []*v1.Pod, nodes []*v1.Node, percentage int32) (*algorithm.Algorithm, *framework.Framework) {
	t.Helper()
	reg, err := plugins.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	f, err := framework.New(reg, framework.Options{Plugins: plugins.DefaultProfile(), Snapshot: cache.NewSnapshot(pods, nodes), Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	return algorithm.New(f, percentage, 1), f
}

func schedule(t *testing.T, a *algorithm.Algorithm, pod *v1.Pod) (algorithm.Result, error) {
	t.Helper()
	return a.Schedule(context.Background(), framework.NewCycleState(), framework.NewPodInfo(pod))
}

func TestSchedule(t *testing.T) {
	cp := st.MakeNode("cp").Taint("node-role.kubernetes.io/control-plane", "", v1.TaintEffectNoSchedule).Obj()
	small1 := st.MakeNode("node-1").Capacity("1", "4Gi", "110").Label("disk", "hdd").Obj()
	small2 := st.MakeNode("node-2").Capacity("1", "4Gi", "110").Label("disk", "hdd").Obj()
	big := st.MakeNode("big").Capacity("8", "32Gi", "110").Label("disk", "ssd").Obj()
	tests := []struct {
		name     string
		nodes    []*v1.Node
		existing []*v1.Pod
		pod      *v1.Pod
		want     string // node, or the FitError message
	}{
		{"the only node that fits", []*v1.Node{cp, small1, big}, nil, st.MakePod("p").Req("2", "").Obj(), "big"},
		{"least allocated wins", []*v1.Node{small1, big}, nil, st.MakePod("p").Req("500m", "1Gi").Obj(), "big"},
		{"nodeSelector", []*v1.Node{small1, small2, big}, nil, st.MakePod("p").NodeSelector("disk", "hdd").Obj(), "node-?"},
		{"fits nowhere: Kubernetes' message", []*v1.Node{cp, small1, small2}, nil, st.MakePod("p").Req("2", "").Obj(),
			"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."},
		{"nodeSelector matching nothing names every node's reason", []*v1.Node{cp, small1, big}, nil, st.MakePod("p").NodeSelector("disk", "nvme").Obj(),
			"0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."},
		{"nodeSelector on full nodes: the selected nodes' reason and the others'", []*v1.Node{small1, small2, big},
			[]*v1.Pod{st.MakePod("e1").Req("1", "").Node("node-1").Obj(), st.MakePod("e2").Req("1", "").Node("node-2").Obj()},
			st.MakePod("p").Req("500m", "").NodeSelector("disk", "hdd").Obj(),
			"0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."},
		{"no nodes at all", nil, nil, st.MakePod("p").Obj(), "no nodes available to schedule pods"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newAlgorithm(t, tc.existing, tc.nodes, 0)
			res, err := schedule(t, a, tc.pod)
			var fe *framework.FitError
			switch {
			case errors.As(err, &fe):
				if got := fe.Error(); got != tc.want {
					t.Errorf("got  %q\nwant %q", got, tc.want)
				}
			case err != nil:
				t.Fatal(err)
			case tc.want == "node-?":
				if res.SuggestedHost != "node-1" && res.SuggestedHost != "node-2" {
					t.Errorf("chose %s", res.SuggestedHost)
				}
			case res.SuggestedHost != tc.want:
				t.Errorf("chose %s, want %s", res.SuggestedHost, tc.want)
			}
		})
	}
}

func TestSamplesLargeClusters(t *testing.T) {
	var nodes []*v1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, st.MakeNode(fmt.Sprintf("n%04d", i)).Obj())
	}
	a, _ := newAlgorithm(t, nil, nodes, 0)
	res, err := schedule(t, a, st.MakePod("p").Obj())
	if err != nil {
		t.Fatal(err)
	}
	if res.FeasibleNodes != 420 {
		t.Errorf("scored %d nodes, want 420 (42%% of 1000)", res.FeasibleNodes)
	}
	a, _ = newAlgorithm(t, nil, nodes, 100)
	if res, _ := schedule(t, a, st.MakePod("p").Obj()); res.FeasibleNodes != 1000 {
		t.Errorf("with 100%%: scored %d nodes, want 1000", res.FeasibleNodes)
	}
}

func TestNominatedNodeIsTriedFirst(t *testing.T) {
	nodes := []*v1.Node{st.MakeNode("a").Capacity("8", "32Gi", "110").Obj(), st.MakeNode("b").Capacity("1", "4Gi", "110").Obj()}
	a, _ := newAlgorithm(t, nil, nodes, 0)
	res, err := schedule(t, a, st.MakePod("p").NominatedNode("b").Obj())
	if err != nil {
		t.Fatal(err)
	}
	if res.SuggestedHost != "b" {
		t.Errorf("chose %s, want the nominated node b", res.SuggestedHost)
	}
}
