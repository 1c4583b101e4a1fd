package preemption_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/algorithm"
	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
	"coracle.dev/scheduler/internal/plugins"
	"coracle.dev/scheduler/internal/preemption"
	st "coracle.dev/scheduler/internal/schedtest"
)

func low(name, node, cpu string, prio int32) *v1.Pod {
	return st.MakePod(name).Req(cpu, "").Priority(prio).Node(node).Obj()
}

// decide runs a scheduling attempt, then preemption, as the scheduler does.
func decide(t *testing.T, pods []*v1.Pod, nodes []*v1.Node, pod *v1.Pod) (*preemption.Candidate, string) {
	t.Helper()
	reg, _ := plugins.NewRegistry()
	f, err := framework.New(reg, framework.Options{Plugins: plugins.DefaultProfile(), Snapshot: cache.NewSnapshot(pods, nodes), Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	state := framework.NewCycleState()
	pi := framework.NewPodInfo(pod)
	_, err = algorithm.New(f, 0, 1).Schedule(context.Background(), state, pi)
	var fe *framework.FitError
	if !errors.As(err, &fe) {
		t.Fatalf("the pod fits without preemption (err %v)", err)
	}
	return preemption.NewEvaluator(f, 1).FindCandidate(context.Background(), state, pi, pod.Status.NominatedNodeName, fe.Diagnosis.NodeToStatus)
}

func victims(c *preemption.Candidate) []string {
	var out []string
	for _, v := range c.Victims {
		out = append(out, v.Pod.Name)
	}
	sort.Strings(out)
	return out
}

func TestFindCandidate(t *testing.T) {
	node := func(name string) *v1.Node { return st.MakeNode(name).Capacity("4", "16Gi", "110").Obj() }
	tests := []struct {
		name        string
		nodes       []*v1.Node
		pods        []*v1.Pod
		pod         *v1.Pod
		wantNode    string
		wantVictims []string
		wantMsg     string
	}{
		{"evicts the fewest lower-priority pods needed",
			[]*v1.Node{node("n")},
			[]*v1.Pod{low("a", "n", "1", 0), low("b", "n", "1", 0), low("c", "n", "2", 0)},
			st.MakePod("p").Req("2", "").Priority(100).Obj(),
			"n", []string{"c"}, ""},
		{"keeps the more important pods: lowest priority first",
			[]*v1.Node{node("n")},
			[]*v1.Pod{low("keep", "n", "2", 50), low("go", "n", "2", 10)},
			st.MakePod("p").Req("2", "").Priority(100).Obj(),
			"n", []string{"go"}, ""},
		{"never evicts equal or higher priority",
			[]*v1.Node{node("n")},
			[]*v1.Pod{low("peer", "n", "4", 100)},
			st.MakePod("p").Req("2", "").Priority(100).Obj(),
			"", nil, "preemption: 0/1 nodes are available: 1 " + preemption.MsgNoVictims},
		{"picks the node whose victims matter least",
			[]*v1.Node{node("n1"), node("n2")},
			[]*v1.Pod{low("important", "n1", "4", 50), low("cheap", "n2", "4", 1)},
			st.MakePod("p").Req("2", "").Priority(100).Obj(),
			"n2", []string{"cheap"}, ""},
		{"with equal priorities, fewer victims",
			[]*v1.Node{node("n1"), node("n2")},
			[]*v1.Pod{low("x1", "n1", "2", 1), low("x2", "n1", "2", 1), low("y", "n2", "4", 1)},
			st.MakePod("p").Req("3", "").Priority(100).Obj(),
			"n2", []string{"y"}, ""},
		{"preemption policy Never",
			[]*v1.Node{node("n")},
			[]*v1.Pod{low("a", "n", "4", 0)},
			st.MakePod("p").Req("2", "").Priority(100).PreemptNever().Obj(),
			"", nil, "preemption: " + preemption.MsgPolicyNever},
		{"nodes where preemption cannot help",
			[]*v1.Node{st.MakeNode("tainted").Taint("dedicated", "x", v1.TaintEffectNoSchedule).Obj()},
			nil,
			st.MakePod("p").Priority(100).Obj(),
			"", nil, "preemption: 0/1 nodes are available: 1 " + preemption.MsgNotHelpful},
		{"a pod nominated to a node where a victim is still terminating waits",
			[]*v1.Node{node("n")},
			[]*v1.Pod{st.MakePod("dying").Req("4", "").Priority(0).Node("n").Terminating().Obj()},
			st.MakePod("p").Req("2", "").Priority(100).NominatedNode("n").Obj(),
			"", nil, "preemption: " + preemption.MsgTerminatingOnNode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, msg := decide(t, tc.pods, tc.nodes, tc.pod)
			if tc.wantNode == "" {
				if c != nil {
					t.Fatalf("preempted %v", c)
				}
				if msg != tc.wantMsg {
					t.Errorf("message %q, want %q", msg, tc.wantMsg)
				}
				return
			}
			if c == nil {
				t.Fatalf("no candidate: %s", msg)
			}
			if c.Node != tc.wantNode || strings.Join(victims(c), ",") != strings.Join(tc.wantVictims, ",") {
				t.Errorf("got %v, want node %s victims %v", c, tc.wantNode, tc.wantVictims)
			}
		})
	}
}

func TestPickOne(t *testing.T) {
	pi := func(name string, prio int32, start time.Time) *framework.PodInfo {
		return framework.NewPodInfo(st.MakePod(name).Priority(prio).StartTime(start).Obj())
	}
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		cs   []*preemption.Candidate
		want string
	}{
		{"lowest highest priority", []*preemption.Candidate{
			{Node: "a", Victims: []*framework.PodInfo{pi("x", 10, t0)}},
			{Node: "b", Victims: []*framework.PodInfo{pi("y", 5, t0), pi("z", 5, t0)}},
		}, "b"},
		{"then lowest priority sum", []*preemption.Candidate{
			{Node: "a", Victims: []*framework.PodInfo{pi("x", 10, t0), pi("y", 9, t0)}},
			{Node: "b", Victims: []*framework.PodInfo{pi("z", 10, t0), pi("w", 1, t0)}},
		}, "b"},
		{"then fewest victims", []*preemption.Candidate{
			{Node: "a", Victims: []*framework.PodInfo{pi("x", 0, t0), pi("y", 0, t0)}},
			{Node: "b", Victims: []*framework.PodInfo{pi("z", 0, t0)}},
		}, "b"},
		{"then the most recently started", []*preemption.Candidate{
			{Node: "a", Victims: []*framework.PodInfo{pi("x", 0, t0)}},
			{Node: "b", Victims: []*framework.PodInfo{pi("y", 0, t0.Add(time.Hour))}},
		}, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := preemption.PickOne(tc.cs); got.Node != tc.want {
				t.Errorf("picked %s, want %s", got.Node, tc.want)
			}
		})
	}
}
