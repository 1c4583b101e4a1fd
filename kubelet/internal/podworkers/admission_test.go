package podworkers

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testPod is a pod on node n created age seconds after t0.
func testPod(name string, age int, opts ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Second)),
		},
		Spec: v1.PodSpec{NodeName: "n", Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withPort(port int32, proto v1.Protocol, hostIP string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		c := &p.Spec.Containers[0]
		c.Ports = append(c.Ports, v1.ContainerPort{ContainerPort: 80, HostPort: port, Protocol: proto, HostIP: hostIP})
	}
}

func withRequests(cpu, mem string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Resources.Requests = v1.ResourceList{
			v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem),
		}
	}
}

func onNode(name string) func(*v1.Pod) { return func(p *v1.Pod) { p.Spec.NodeName = name } }

func withPhase(phase v1.PodPhase) func(*v1.Pod) { return func(p *v1.Pod) { p.Status.Phase = phase } }

func deleting(p *v1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }

func testNode(opts ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"disk": "ssd", v1.LabelOSStable: "linux"}},
		Status: v1.NodeStatus{Allocatable: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("1Gi"), v1.ResourcePods: resource.MustParse("3"),
		}},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func TestPortSetConflicts(t *testing.T) {
	tests := []struct {
		name string
		used []v1.ContainerPort
		want v1.ContainerPort
		hit  bool
	}{
		{"same port, protocol and any IP", []v1.ContainerPort{{HostPort: 80}}, v1.ContainerPort{HostPort: 80}, true},
		{"empty protocol is TCP", []v1.ContainerPort{{HostPort: 80, Protocol: v1.ProtocolTCP}}, v1.ContainerPort{HostPort: 80}, true},
		{"another protocol is free", []v1.ContainerPort{{HostPort: 53, Protocol: v1.ProtocolUDP}}, v1.ContainerPort{HostPort: 53, Protocol: v1.ProtocolTCP}, false},
		{"another port is free", []v1.ContainerPort{{HostPort: 80}}, v1.ContainerPort{HostPort: 81}, false},
		{"0.0.0.0 wanted clashes with any IP", []v1.ContainerPort{{HostPort: 80, HostIP: "10.0.0.1"}}, v1.ContainerPort{HostPort: 80}, true},
		{"an IP wanted clashes with 0.0.0.0 used", []v1.ContainerPort{{HostPort: 80, HostIP: "0.0.0.0"}}, v1.ContainerPort{HostPort: 80, HostIP: "10.0.0.1"}, true},
		{"two IPs do not clash", []v1.ContainerPort{{HostPort: 80, HostIP: "10.0.0.2"}}, v1.ContainerPort{HostPort: 80, HostIP: "10.0.0.1"}, false},
		{"the same IP clashes", []v1.ContainerPort{{HostPort: 80, HostIP: "10.0.0.1"}}, v1.ContainerPort{HostPort: 80, HostIP: "10.0.0.1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := portSet{}
			for _, p := range tt.used {
				s.add(p)
			}
			if got := s.conflicts(tt.want); got != tt.hit {
				t.Errorf("conflicts = %v, want %v", got, tt.hit)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	sidecar := func(p *v1.Pod) {
		always := v1.ContainerRestartPolicyAlways
		p.Spec.InitContainers = []v1.Container{{Name: "proxy", RestartPolicy: &always, Ports: []v1.ContainerPort{{ContainerPort: 15001, HostPort: 15001}}}}
	}
	tests := []struct {
		name    string
		pod     *v1.Pod
		node    *v1.Node
		active  []*v1.Pod
		reason  string // "" admits
		message string
	}{
		{name: "a pod with no ports fits", pod: testPod("a", 0), active: []*v1.Pod{testPod("b", 0, withPort(80, "", ""))}},
		{name: "a taken host port is refused", pod: testPod("a", 0, withPort(8080, v1.ProtocolTCP, "")), active: []*v1.Pod{testPod("b", 0, withPort(8080, "", ""))},
			reason: "NodePorts", message: "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"},
		{name: "a free host port fits", pod: testPod("a", 0, withPort(8080, "", "")), active: []*v1.Pod{testPod("b", 0, withPort(8081, "", ""))}},
		{name: "a sidecar's host port counts", pod: testPod("a", 0, withPort(15001, "", "")), active: []*v1.Pod{testPod("b", 0, sidecar)}, reason: "NodePorts"},
		{name: "another OS label is refused", pod: testPod("a", 0, func(p *v1.Pod) { p.Labels = map[string]string{v1.LabelOSStable: "windows"} }),
			reason: "PodOSSelectorNodeLabelDoesNotMatch", message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		{name: "another spec.os is refused", pod: testPod("a", 0, func(p *v1.Pod) { p.Spec.OS = &v1.PodOS{Name: v1.Windows} }),
			reason: "PodOSNotSupported", message: "Failed to admit pod as the OS field doesn't match node OS"},
		{name: "without a node, resources are not checked", pod: testPod("a", 0, withRequests("64", "1Ti"))},
		{name: "requests within what is left fit", pod: testPod("a", 0, withRequests("1", "512Mi")), node: testNode(),
			active: []*v1.Pod{testPod("b", 0, withRequests("1", "512Mi"))}},
		{name: "too much cpu is OutOfcpu", pod: testPod("a", 0, withRequests("1500m", "1Mi")), node: testNode(),
			active: []*v1.Pod{testPod("b", 0, withRequests("1", "1Mi"))},
			reason: "OutOfcpu", message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
		{name: "too much memory is OutOfmemory", pod: testPod("a", 0, withRequests("1m", "2Gi")), node: testNode(),
			reason: "OutOfmemory", message: "Node didn't have enough resource: memory, requested: 2147483648, used: 0, capacity: 1073741824"},
		{name: "one pod too many is OutOfpods", pod: testPod("a", 0), node: testNode(),
			active: []*v1.Pod{testPod("b", 0), testPod("c", 0), testPod("d", 0)},
			reason: "OutOfpods", message: "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"},
		{name: "an extended resource the node lacks is not the node's to check", node: testNode(),
			pod: testPod("a", 0, func(p *v1.Pod) {
				p.Spec.Containers[0].Resources.Requests = v1.ResourceList{"example.com/gpu": resource.MustParse("1")}
			})},
		{name: "an extended resource the node has too little of", node: testNode(func(n *v1.Node) { n.Status.Allocatable["example.com/gpu"] = resource.MustParse("1") }),
			pod: testPod("a", 0, func(p *v1.Pod) {
				p.Spec.Containers[0].Resources.Requests = v1.ResourceList{"example.com/gpu": resource.MustParse("2")}
			}), reason: "OutOfexample.com/gpu"},
		{name: "a node selector that matches fits", node: testNode(), pod: testPod("a", 0, func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })},
		{name: "a node selector that does not match is NodeAffinity", node: testNode(),
			pod:    testPod("a", 0, func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }),
			reason: "NodeAffinity", message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
		{name: "an untolerated NoExecute taint is refused", pod: testPod("a", 0),
			node:   testNode(func(n *v1.Node) { n.Spec.Taints = []v1.Taint{{Key: "k", Value: "v", Effect: v1.TaintEffectNoExecute}} }),
			reason: "TaintToleration", message: "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"},
		{name: "a tolerated NoExecute taint fits",
			pod:  testPod("a", 0, func(p *v1.Pod) { p.Spec.Tolerations = []v1.Toleration{{Key: "k", Operator: v1.TolerationOpExists}} }),
			node: testNode(func(n *v1.Node) { n.Spec.Taints = []v1.Taint{{Key: "k", Value: "v", Effect: v1.TaintEffectNoExecute}} })},
		{name: "a NoSchedule taint does not stop a bound pod", pod: testPod("a", 0),
			node: testNode(func(n *v1.Node) { n.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoSchedule}} })},
		{name: "resources are reported before ports", node: testNode(),
			pod:    testPod("a", 0, withRequests("3", "1Mi"), withPort(80, "", "")),
			active: []*v1.Pod{testPod("b", 0, withPort(80, "", ""))}, reason: "OutOfcpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check(tt.pod, tt.node, tt.active)
			switch {
			case tt.reason == "" && r != nil:
				t.Fatalf("refused: %s: %s", r.Reason, r.Message)
			case tt.reason == "":
				return
			case r == nil:
				t.Fatalf("admitted, want %s", tt.reason)
			}
			if r.Reason != tt.reason {
				t.Errorf("reason %q, want %q", r.Reason, tt.reason)
			}
			if tt.message != "" && r.Message != tt.message {
				t.Errorf("message %q, want %q", r.Message, tt.message)
			}
		})
	}
}

func TestDecideAdmitsInCreationOrder(t *testing.T) {
	port := withPort(9000, "", "")
	tests := []struct {
		name    string
		pod     *v1.Pod
		others  []*v1.Pod
		decided map[types.UID]admission
		refused bool
	}{
		{name: "an admitted pod holds its port", pod: testPod("new", 10, port),
			others: []*v1.Pod{testPod("old", 0, port)}, decided: map[types.UID]admission{"uid-old": admitted}, refused: true},
		{name: "an older undecided pod wins the port", pod: testPod("new", 10, port),
			others: []*v1.Pod{testPod("old", 0, port)}, refused: true},
		{name: "a newer undecided pod does not", pod: testPod("old", 0, port),
			others: []*v1.Pod{testPod("new", 10, port)}},
		{name: "equal times order by name", pod: testPod("b", 0, port),
			others: []*v1.Pod{testPod("a", 0, port)}, refused: true},
		{name: "an admitted pod being deleted still holds its port", pod: testPod("new", 10, port),
			others: []*v1.Pod{testPod("old", 0, port, deleting)}, decided: map[types.UID]admission{"uid-old": admitted}, refused: true},
		{name: "an undecided pod being deleted never runs", pod: testPod("new", 10, port),
			others: []*v1.Pod{testPod("old", 0, port, deleting)}},
		{name: "a finished pod holds nothing", pod: testPod("new", 10, port),
			others: []*v1.Pod{testPod("old", 0, port, withPhase(v1.PodSucceeded))}, decided: map[types.UID]admission{"uid-old": admitted}},
		{name: "a rejected pod holds nothing", pod: testPod("new", 10, port),
			others: []*v1.Pod{testPod("old", 0, port)}, decided: map[types.UID]admission{"uid-old": rejected}},
		{name: "a pod on another node holds nothing here", pod: testPod("new", 10, port),
			others: []*v1.Pod{testPod("old", 0, port, onNode("m"))}, decided: map[types.UID]admission{"uid-old": admitted}},
		{name: "0.0.0.0 wanted clashes with an admitted pod's port on one IP", pod: testPod("third", 20, port),
			others:  []*v1.Pod{testPod("first", 0, withPort(9000, "", "10.0.0.1")), testPod("second", 10, port)},
			decided: map[types.UID]admission{"uid-first": admitted}, refused: true},
		{name: "an older pod refused for its own port leaves the newer one free", pod: testPod("third", 20, withPort(9001, "", "")),
			others:  []*v1.Pod{testPod("first", 0, port), testPod("second", 10, port, withPort(9001, "", ""))},
			decided: map[types.UID]admission{"uid-first": admitted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := decide(tt.pod, nil, append(tt.others, tt.pod), tt.decided)
			if got := r != nil; got != tt.refused {
				t.Errorf("refused = %v (%v), want %v", got, r, tt.refused)
			}
			if r != nil && r.Reason != ReasonNodePorts {
				t.Errorf("reason %s", r.Reason)
			}
		})
	}
}
