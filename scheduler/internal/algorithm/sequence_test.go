package algorithm_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/algorithm"
	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
	"coracle.dev/scheduler/internal/plugins"
	st "coracle.dev/scheduler/internal/schedtest"
	"coracle.dev/shared/golden"
)

// TestDecisionSequence replays a sequence of pods through the cache, the
// snapshot and the default profile, assuming each decision before the
// next, as the scheduler does, and compares every decision with
// testdata/sequence.golden (go test -update rewrites it). Ties are broken
// with a fixed seed and one worker, so the sequence is deterministic.
func TestDecisionSequence(t *testing.T) {
	c := cache.New(0, nil)
	for _, n := range []*v1.Node{
		st.MakeNode("cp").Capacity("2", "8Gi", "110").Label(v1.LabelTopologyZone, "a").Taint("node-role.kubernetes.io/control-plane", "", v1.TaintEffectNoSchedule).Obj(),
		st.MakeNode("a1").Capacity("4", "16Gi", "110").Label(v1.LabelTopologyZone, "a").Label("disk", "ssd").Obj(),
		st.MakeNode("a2").Capacity("4", "16Gi", "110").Label(v1.LabelTopologyZone, "a").Obj(),
		st.MakeNode("b1").Capacity("8", "32Gi", "110").Label(v1.LabelTopologyZone, "b").Label("disk", "ssd").Obj(),
		st.MakeNode("b2").Capacity("2", "4Gi", "4").Label(v1.LabelTopologyZone, "b").Taint("spot", "true", v1.TaintEffectPreferNoSchedule).Obj(),
		st.MakeNode("gpu").Capacity("8", "64Gi", "110").Label(v1.LabelTopologyZone, "b").Allocatable("example.com/gpu", "1").Taint("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(),
	} {
		c.AddNode(n)
	}
	web := func(i int) *v1.Pod {
		return st.MakePod(fmt.Sprintf("web-%d", i)).Label("app", "web").Req("1", "2Gi").PodAntiAffinity("app", "web", v1.LabelHostname).Obj()
	}
	sequence := []*v1.Pod{
		st.MakePod("db").Label("app", "db").Req("2", "8Gi").NodeSelector("disk", "ssd").Obj(),
		web(1), web(2), web(3), web(4), web(5),
		st.MakePod("cache").Req("500m", "1Gi").PodAffinity("app", "db", v1.LabelTopologyZone).Obj(),
		st.MakePod("trainer").ReqRes("example.com/gpu", "1").Toleration("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(),
		st.MakePod("trainer-2").ReqRes("example.com/gpu", "1").Toleration("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj(),
		st.MakePod("proxy-1").HostPort("", 443, v1.ProtocolTCP).Obj(),
		st.MakePod("proxy-2").HostPort("", 443, v1.ProtocolTCP).Obj(),
		st.MakePod("batch-1").Req("3", "1Gi").Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "batch").Label("app", "batch").Obj(),
		st.MakePod("batch-2").Req("3", "1Gi").Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "batch").Label("app", "batch").Obj(),
		st.MakePod("batch-3").Req("3", "1Gi").Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "batch").Label("app", "batch").Obj(),
		st.MakePod("huge").Req("16", "").Obj(),
		st.MakePod("tiny-1").Obj(), st.MakePod("tiny-2").Obj(), st.MakePod("tiny-3").Obj(),
	}

	reg, err := plugins.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	snap := cache.NewEmptySnapshot()
	f, err := framework.New(reg, framework.Options{Plugins: plugins.DefaultProfile(), Snapshot: snap, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := algorithm.New(f, 0, 42)
	var out strings.Builder
	for _, pod := range sequence {
		c.UpdateSnapshot(snap)
		res, err := a.Schedule(context.Background(), framework.NewCycleState(), framework.NewPodInfo(pod))
		var fe *framework.FitError
		switch {
		case errors.As(err, &fe):
			fmt.Fprintf(&out, "%-10s pending: %s\n", pod.Name, fe.Error())
			continue
		case err != nil:
			t.Fatalf("%s: %v", pod.Name, err)
		}
		fmt.Fprintf(&out, "%-10s -> %s (%d feasible)\n", pod.Name, res.SuggestedHost, res.FeasibleNodes)
		pod.Spec.NodeName = res.SuggestedHost
		if err := c.AssumePod(framework.NewPodInfo(pod)); err != nil {
			t.Fatal(err)
		}
	}
	golden.Assert(t, filepath.Join("testdata", "sequence.golden"), out.String())
}
