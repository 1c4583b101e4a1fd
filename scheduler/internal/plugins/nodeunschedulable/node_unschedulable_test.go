package nodeunschedulable

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestFilter(t *testing.T) {
	cordoned := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable)
	tests := []struct {
		name string
		pod  *v1.Pod
		node *v1.Node
		want *framework.Status
	}{
		{"schedulable node fits", st.MakePod("p").Obj(), st.MakeNode("n").Obj(), nil},
		{"cordoned node rejects", st.MakePod("p").Obj(), st.MakeNode("n").Unschedulable().Obj(), cordoned},
		{"pod tolerating the cordon fits", st.MakePod("p").Toleration(framework.TaintNodeUnschedulable, "", v1.TaintEffectNoSchedule).Obj(),
			st.MakeNode("n").Unschedulable().Obj(), nil},
		{"a toleration of another taint does not help", st.MakePod("p").Toleration("other", "", v1.TaintEffectNoSchedule).Obj(),
			st.MakeNode("n").Unschedulable().Obj(), cordoned},
		{"a toleration of every taint helps", st.MakePod("p").Toleration("", "", "").Obj(),
			st.MakeNode("n").Unschedulable().Obj(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, nil, []*v1.Node{tc.node}, framework.Listers{})
			st.CheckStatuses(t, st.Filter(t, f, tc.pod), map[string]*framework.Status{"n": tc.want})
		})
	}
}
