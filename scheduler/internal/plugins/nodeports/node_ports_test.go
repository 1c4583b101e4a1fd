package nodeports

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

func TestFilter(t *testing.T) {
	conflict := framework.NewStatus(framework.Unschedulable, ErrReason)
	tcp, udp := v1.ProtocolTCP, v1.ProtocolUDP
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     *framework.Status
	}{
		{"no host port fits anywhere", st.MakePod("p").Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").HostPort("", 80, tcp).Obj()}, nil},
		{"free port fits", st.MakePod("p").HostPort("", 8080, tcp).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").HostPort("", 80, tcp).Obj()}, nil},
		{"same port and protocol on all addresses conflicts", st.MakePod("p").HostPort("", 80, tcp).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").HostPort("", 80, tcp).Obj()}, conflict},
		{"same port, other protocol fits", st.MakePod("p").HostPort("", 80, udp).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").HostPort("", 80, tcp).Obj()}, nil},
		{"same port on different specific addresses fits", st.MakePod("p").HostPort("10.0.0.1", 80, tcp).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").HostPort("10.0.0.2", 80, tcp).Obj()}, nil},
		{"a specific address conflicts with 0.0.0.0", st.MakePod("p").HostPort("10.0.0.1", 80, tcp).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").HostPort("0.0.0.0", 80, tcp).Obj()}, conflict},
		{"0.0.0.0 conflicts with a specific address", st.MakePod("p").HostPort("", 80, tcp).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("n").HostPort("10.0.0.2", 80, tcp).Obj()}, conflict},
		{"a port on another node does not matter", st.MakePod("p").HostPort("", 80, tcp).Obj(),
			[]*v1.Pod{st.MakePod("e").Node("other").HostPort("", 80, tcp).Obj()}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, tc.existing, []*v1.Node{st.MakeNode("n").Obj(), st.MakeNode("other").Obj()}, framework.Listers{})
			got := st.Filter(t, f, tc.pod)
			if !got["n"].Equal(tc.want) {
				t.Errorf("got %v, want %v", got["n"], tc.want)
			}
		})
	}
}
