package nodename

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestFilter(t *testing.T) {
	mismatch := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	nodes := []*v1.Node{st.MakeNode("a").Obj(), st.MakeNode("b").Obj()}
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]*framework.Status
	}{
		{"no requested node: every node fits", st.MakePod("p").Obj(), map[string]*framework.Status{"a": nil, "b": nil}},
		{"requested node: only it fits", st.MakePod("p").NodeName("b").Obj(), map[string]*framework.Status{"a": mismatch, "b": nil}},
		{"requested node that does not exist: none fits", st.MakePod("p").NodeName("c").Obj(), map[string]*framework.Status{"a": mismatch, "b": mismatch}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, nil, nodes, framework.Listers{})
			st.CheckStatuses(t, st.Filter(t, f, tc.pod), tc.want)
		})
	}
}
