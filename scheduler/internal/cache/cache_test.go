package cache_test

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	clocktesting "k8s.io/utils/clock/testing"

	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func cpuOn(c *cache.Cache, node string) int64 {
	return c.Dump()[node].Requested.MilliCPU
}

func TestAssumedPodLifecycle(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	tests := []struct {
		name    string
		steps   func(c *cache.Cache, pod *v1.Pod)
		wantCPU int64
		wantPod int
	}{
		{"assumed pods count at once", func(c *cache.Cache, p *v1.Pod) {
			mustAssume(t, c, p)
		}, 500, 1},
		{"a failed binding forgets the pod", func(c *cache.Cache, p *v1.Pod) {
			mustAssume(t, c, p)
			if err := c.ForgetPod(p); err != nil {
				t.Fatal(err)
			}
		}, 0, 0},
		{"the informer confirms the pod once", func(c *cache.Cache, p *v1.Pod) {
			mustAssume(t, c, p)
			c.FinishBinding(p)
			c.AddPod(p)
			clk.Step(time.Hour)
			c.CleanupExpired()
		}, 500, 1},
		{"an unconfirmed binding expires after the TTL", func(c *cache.Cache, p *v1.Pod) {
			mustAssume(t, c, p)
			c.FinishBinding(p)
			clk.Step(59 * time.Second)
			if n := len(c.CleanupExpired()); n != 0 {
				t.Fatalf("expired %d pods before the TTL", n)
			}
			clk.Step(2 * time.Second)
			if n := len(c.CleanupExpired()); n != 1 {
				t.Fatalf("expired %d pods after the TTL, want 1", n)
			}
		}, 0, 0},
		{"a binding in flight never expires", func(c *cache.Cache, p *v1.Pod) {
			mustAssume(t, c, p)
			clk.Step(time.Hour)
			c.CleanupExpired()
		}, 500, 1},
		{"a pod bound elsewhere moves to its real node", func(c *cache.Cache, p *v1.Pod) {
			mustAssume(t, c, p)
			elsewhere := p.DeepCopy()
			elsewhere.Spec.NodeName = "n2"
			c.AddPod(elsewhere)
		}, 0, 1},
		{"deleting the pod frees the room", func(c *cache.Cache, p *v1.Pod) {
			c.AddPod(p)
			c.RemovePod(p)
		}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cache.New(time.Minute, clk)
			c.AddNode(st.MakeNode("n1").Obj())
			c.AddNode(st.MakeNode("n2").Obj())
			pod := st.MakePod("p").Req("500m", "").Node("n1").Obj()
			tc.steps(c, pod)
			if got := cpuOn(c, "n1"); got != tc.wantCPU {
				t.Errorf("cpu counted on n1: %dm, want %dm", got, tc.wantCPU)
			}
			if got := c.PodCount(); got != tc.wantPod {
				t.Errorf("pods: %d, want %d", got, tc.wantPod)
			}
		})
	}
}

func mustAssume(t *testing.T, c *cache.Cache, p *v1.Pod) {
	t.Helper()
	if err := c.AssumePod(framework.NewPodInfo(p)); err != nil {
		t.Fatal(err)
	}
}

func TestAssumeTwiceFails(t *testing.T) {
	c := cache.New(0, nil)
	c.AddNode(st.MakeNode("n").Obj())
	p := st.MakePod("p").Node("n").Obj()
	mustAssume(t, c, p)
	if err := c.AssumePod(framework.NewPodInfo(p)); err == nil {
		t.Fatal("assumed twice")
	}
}

func TestSnapshotIsIncrementalAndIsolated(t *testing.T) {
	c := cache.New(0, nil)
	for _, n := range []string{"a", "b", "c"} {
		c.AddNode(st.MakeNode(n).Label(v1.LabelTopologyZone, "z-"+n).Obj())
	}
	snap := cache.NewEmptySnapshot()
	c.UpdateSnapshot(snap)
	if snap.NumNodes() != 3 {
		t.Fatalf("%d nodes, want 3", snap.NumNodes())
	}
	before := snap.Get("a")
	mustAssume(t, c, st.MakePod("p").Label("app", "web").Req("1", "").PodAntiAffinity("app", "web", v1.LabelHostname).Node("a").Obj())
	if before.Requested.MilliCPU != 0 {
		t.Fatal("the snapshot changed before UpdateSnapshot")
	}
	c.UpdateSnapshot(snap)
	if snap.Get("a") != before || before.Requested.MilliCPU != 1000 {
		t.Fatal("the node was not updated in place")
	}
	if got := len(snap.HavePodsWithRequiredAntiAffinityList()); got != 1 {
		t.Errorf("nodes with anti-affinity pods: %d, want 1", got)
	}
	var matched []string
	snap.ForEachPodMatching(labels.SelectorFromSet(labels.Set{"app": "web"}), func(p *framework.PodInfo, ni *framework.NodeInfo) {
		matched = append(matched, p.Pod.Name+"@"+ni.Name)
	})
	if len(matched) != 1 || matched[0] != "p@a" {
		t.Errorf("label index: %v", matched)
	}
	terms := 0
	snap.ForEachExistingAntiAffinityTerm(st.MakePod("q").Label("app", "web").Obj(), nil, func(*framework.AffinityTerm, *framework.NodeInfo, int) { terms++ })
	if terms != 1 {
		t.Errorf("anti-affinity terms selecting q: %d, want 1", terms)
	}
	c.RemoveNode("b")
	c.UpdateSnapshot(snap)
	if snap.NumNodes() != 2 || snap.Get("b") != nil {
		t.Errorf("removed node still listed")
	}
	if err := c.ForgetPod(st.MakePod("p").Node("a").Obj()); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(snap)
	terms = 0
	snap.ForEachExistingAntiAffinityTerm(st.MakePod("q").Label("app", "web").Obj(), nil, func(*framework.AffinityTerm, *framework.NodeInfo, int) { terms++ })
	if terms != 0 || len(snap.HavePodsWithRequiredAntiAffinityList()) != 0 {
		t.Errorf("forgotten pod still indexed")
	}
}

func TestSnapshotInterleavesZones(t *testing.T) {
	var nodes []*v1.Node
	for _, n := range []struct{ name, zone string }{{"a1", "a"}, {"a2", "a"}, {"a3", "a"}, {"b1", "b"}, {"c1", "c"}, {"c2", "c"}} {
		nodes = append(nodes, st.MakeNode(n.name).Label(v1.LabelTopologyZone, n.zone).Obj())
	}
	var got []string
	for _, ni := range cache.NewSnapshot(nil, nodes).List() {
		got = append(got, ni.Name)
	}
	want := []string{"a1", "b1", "c1", "a2", "c2", "a3"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
