package podtopologyspread

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"coracle.dev/scheduler/internal/framework"
	st "coracle.dev/scheduler/internal/schedtest"
)

const hostname, zone = v1.LabelHostname, v1.LabelTopologyZone

var nodes = []*v1.Node{
	st.MakeNode("a1").Label(zone, "a").Obj(),
	st.MakeNode("a2").Label(zone, "a").Obj(),
	st.MakeNode("b1").Label(zone, "b").Obj(),
	st.MakeNode("b2").Label(zone, "b").Obj(),
	st.MakeNode("nozone").Obj(),
}

func web(name, node string) *v1.Pod { return st.MakePod(name).Label("app", "web").Node(node).Obj() }

func TestFilter(t *testing.T) {
	skew := framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
	missing := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
	pod := func() *st.PodWrapper { return st.MakePod("p").Label("app", "web") }
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     map[string]*framework.Status
	}{
		{"no constraint: every node", pod().Obj(), []*v1.Pod{web("w1", "a1")}, map[string]*framework.Status{}},
		{"zone skew 1: zone a has 2, b has 0 -> only b",
			pod().Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "a2")},
			map[string]*framework.Status{"a1": skew, "a2": skew, "nozone": missing}},
		{"zone skew 1 balanced: both zones fit",
			pod().Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "b1")},
			map[string]*framework.Status{"nozone": missing}},
		{"zone skew 2 tolerates one more",
			pod().Spread(2, zone, v1.DoNotSchedule, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1")},
			map[string]*framework.Status{"nozone": missing}},
		{"hostname skew 1: not the nodes already running one",
			st.MakePod("p").Label("app", "web").Spread(1, hostname, v1.DoNotSchedule, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "b1")},
			map[string]*framework.Status{"a1": skew, "b1": skew}},
		{"pods of other apps do not count",
			pod().Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			[]*v1.Pod{st.MakePod("db").Label("app", "db").Node("a1").Obj(), st.MakePod("db2").Label("app", "db").Node("a2").Obj()},
			map[string]*framework.Status{"nozone": missing}},
		{"terminating pods do not count",
			pod().Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			[]*v1.Pod{st.MakePod("w1").Label("app", "web").Node("a1").Terminating().Obj(), st.MakePod("w2").Label("app", "web").Node("a2").Terminating().Obj()},
			map[string]*framework.Status{"nozone": missing}},
		{"ScheduleAnyway does not filter",
			pod().Spread(1, zone, v1.ScheduleAnyway, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "a2")},
			map[string]*framework.Status{}},
		{"minDomains above the domain count treats the minimum as 0",
			pod().Spread(1, zone, v1.DoNotSchedule, "app", "web").MinDomains(3).Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "b1")},
			map[string]*framework.Status{"a1": skew, "a2": skew, "b1": skew, "b2": skew, "nozone": missing}},
		{"nodes the pod's nodeSelector excludes are not domains",
			pod().NodeSelector(zone, "a").Spread(1, zone, v1.DoNotSchedule, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "a2"), web("w3", "b1")},
			map[string]*framework.Status{"nozone": missing}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := st.Plugin(t, Name, New, tc.existing, nodes, framework.Listers{})
			st.CheckStatuses(t, st.Filter(t, f, tc.pod), tc.want)
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		listers  func(t *testing.T) framework.Listers
		want     map[string]int64
	}{
		{"ScheduleAnyway by hostname: emptier nodes score higher",
			st.MakePod("p").Label("app", "web").Spread(1, hostname, v1.ScheduleAnyway, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "a1"), web("w3", "b1")}, nil,
			// counts a1=2 b1=1 others 0; weight log(5+2)=1.95: a1 3.9->4,
			// b1 2, others 0; normalised 100*(4+0-s)/4.
			map[string]int64{"a1": 0, "b1": 50, "a2": 100, "b2": 100, "nozone": 100}},
		{"ScheduleAnyway by zone: the emptier zone scores higher and nodes without the key 0",
			st.MakePod("p").Label("app", "web").Spread(1, zone, v1.ScheduleAnyway, "app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "a2")}, nil,
			map[string]int64{"a1": 0, "a2": 0, "b1": 100, "b2": 100, "nozone": 0}},
		{"no constraints and no owner: not scored",
			st.MakePod("p").Label("app", "web").Obj(),
			[]*v1.Pod{web("w1", "a1")}, nil,
			map[string]int64{"a1": 0, "b1": 0}},
		{"no constraints, owned by a ReplicaSet: spread among its pods by the system defaults",
			st.MakePod("p").Label("app", "web").OwnedBy("ReplicaSet", "web-rs").Obj(),
			[]*v1.Pod{web("w1", "a1"), web("w2", "a1"), web("w3", "a2")},
			func(t *testing.T) framework.Listers {
				rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-rs", Namespace: "default"},
					Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
				factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
				if err := factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs); err != nil {
					t.Fatal(err)
				}
				return framework.Listers{ReplicaSets: factory.Apps().V1().ReplicaSets().Lister()}
			},
			// zone b (empty) wins over zone a; within a, a2 (1 pod) over a1 (2).
			map[string]int64{"b1": 100, "b2": 100, "nozone": 0}},
		{"no constraints, selected by a Service: spread among its pods",
			st.MakePod("p").Label("app", "web").Obj(),
			[]*v1.Pod{web("w1", "b1")},
			func(t *testing.T) framework.Listers {
				svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
					Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
				factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
				if err := factory.Core().V1().Services().Informer().GetIndexer().Add(svc); err != nil {
					t.Fatal(err)
				}
				return framework.Listers{Services: factory.Core().V1().Services().Lister()}
			},
			// Per node: hostname count×log(4+2) + 2, plus zone count×log(2+2)
			// + 4: a 6, b1 9.18 -> 9, b2 7.39 -> 7; normalised
			// 100×(9+6-s)/9.
			map[string]int64{"a1": 100, "a2": 100, "b2": 88, "b1": 66}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l framework.Listers
			if tc.listers != nil {
				l = tc.listers(t)
			}
			f := st.Plugin(t, Name, New, tc.existing, nodes, l)
			got := st.Scores(t, f, tc.pod)
			for n, w := range tc.want {
				if got[n] != w {
					t.Errorf("node %s: score %d, want %d (all %v)", n, got[n], w, got)
				}
			}
		})
	}
}
