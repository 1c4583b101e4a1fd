package tainttoleration

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestFilter(t *testing.T) {
	untolerated := func(k, v string) *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint {"+k+": "+v+"}")
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		node *v1.Node
		want *framework.Status
	}{
		{"untainted node", st.MakePod("p").Obj(), st.MakeNode("n").Obj(), nil},
		{"NoSchedule taint not tolerated", st.MakePod("p").Obj(),
			st.MakeNode("n").Taint("node-role.kubernetes.io/control-plane", "", v1.TaintEffectNoSchedule).Obj(),
			untolerated("node-role.kubernetes.io/control-plane", "")},
		{"NoExecute taint not tolerated", st.MakePod("p").Obj(),
			st.MakeNode("n").Taint("dedicated", "db", v1.TaintEffectNoExecute).Obj(), untolerated("dedicated", "db")},
		{"PreferNoSchedule does not filter", st.MakePod("p").Obj(),
			st.MakeNode("n").Taint("spot", "true", v1.TaintEffectPreferNoSchedule).Obj(), nil},
		{"tolerated with Equal", st.MakePod("p").Toleration("dedicated", "db", v1.TaintEffectNoSchedule).Obj(),
			st.MakeNode("n").Taint("dedicated", "db", v1.TaintEffectNoSchedule).Obj(), nil},
		{"Equal with another value does not tolerate", st.MakePod("p").Toleration("dedicated", "web", v1.TaintEffectNoSchedule).Obj(),
			st.MakeNode("n").Taint("dedicated", "db", v1.TaintEffectNoSchedule).Obj(), untolerated("dedicated", "db")},
		{"tolerated with Exists and no effect", st.MakePod("p").Toleration("dedicated", "", "").Obj(),
			st.MakeNode("n").Taint("dedicated", "db", v1.TaintEffectNoExecute).Obj(), nil},
		{"the first untolerated taint is named", st.MakePod("p").Toleration("a", "", v1.TaintEffectNoSchedule).Obj(),
			st.MakeNode("n").Taint("a", "1", v1.TaintEffectNoSchedule).Taint("b", "2", v1.TaintEffectNoSchedule).Obj(), untolerated("b", "2")},
		{"a not-ready node carries the not-ready taint", st.MakePod("p").Obj(),
			st.MakeNode("n").Ready(v1.ConditionFalse).Obj(), untolerated(framework.TaintNodeNotReady, "")},
		{"an unreachable node carries the unreachable taint", st.MakePod("p").Obj(),
			st.MakeNode("n").Ready(v1.ConditionUnknown).Obj(), untolerated(framework.TaintNodeUnreachable, "")},
		{"a pod tolerating not-ready fits a not-ready node", st.MakePod("p").Toleration(framework.TaintNodeNotReady, "", "").Obj(),
			st.MakeNode("n").Ready(v1.ConditionFalse).Obj(), nil},
		{"the taint the node lifecycle controller set is not doubled", st.MakePod("p").Toleration(framework.TaintNodeNotReady, "", v1.TaintEffectNoExecute).Obj(),
			st.MakeNode("n").Ready(v1.ConditionFalse).Taint(framework.TaintNodeNotReady, "", v1.TaintEffectNoExecute).Obj(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, nil, []*v1.Node{tc.node}, framework.Listers{})
			if got := st.Filter(t, f, tc.pod)["n"]; !got.Equal(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode("clean").Obj(),
		st.MakeNode("one").Taint("spot", "true", v1.TaintEffectPreferNoSchedule).Obj(),
		st.MakeNode("two").Taint("spot", "true", v1.TaintEffectPreferNoSchedule).Taint("old", "true", v1.TaintEffectPreferNoSchedule).Obj(),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		{"fewer untolerated PreferNoSchedule taints score higher", st.MakePod("p").Obj(),
			map[string]int64{"clean": 100, "one": 50, "two": 0}},
		{"tolerated PreferNoSchedule taints do not count", st.MakePod("p").Toleration("spot", "", v1.TaintEffectPreferNoSchedule).Obj(),
			map[string]int64{"clean": 100, "one": 100, "two": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, nil, nodes, framework.Listers{})
			got := st.Scores(t, f, tc.pod)
			for n, w := range tc.want {
				if got[n] != w {
					t.Errorf("node %s: score %d, want %d", n, got[n], w)
				}
			}
		})
	}
}
