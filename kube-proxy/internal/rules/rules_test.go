package rules

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/golden"
)

const node = "node-a"

type svcOpt func(*v1.Service)

func service(name, ip string, ports []v1.ServicePort, opts ...svcOpt) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip}, Ports: ports},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func tcp(name string, port, nodePort int32) v1.ServicePort {
	return v1.ServicePort{Name: name, Protocol: v1.ProtocolTCP, Port: port, NodePort: nodePort, TargetPort: intstr.FromInt32(port)}
}

func udp(name string, port int32) v1.ServicePort {
	return v1.ServicePort{Name: name, Protocol: v1.ProtocolUDP, Port: port}
}

type ep struct {
	ip, node                    string
	ready, serving, terminating bool
}

func readyEP(ip, node string) ep { return ep{ip: ip, node: node, ready: true, serving: true} }

func slice(svc, name string, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{e.ip}, NodeName: ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(e.ready), Serving: ptr.To(e.serving), Terminating: ptr.To(e.terminating)},
		})
	}
	return s
}

func sport(name string, proto v1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(port)}
}

func withType(t v1.ServiceType) svcOpt { return func(s *v1.Service) { s.Spec.Type = t } }

func TestBuildGolden(t *testing.T) {
	httpPorts := []discoveryv1.EndpointPort{sport("http", v1.ProtocolTCP, 8080)}
	cases := []struct {
		name  string
		cidr  string
		svcs  []*v1.Service
		slice []*discoveryv1.EndpointSlice
	}{
		{name: "empty"},
		{
			name: "clusterip-spreads-over-ready-endpoints",
			svcs: []*v1.Service{service("web", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 0)})},
			slice: []*discoveryv1.EndpointSlice{slice("web", "web-1", httpPorts,
				readyEP("10.244.1.3", node), readyEP("10.244.1.2", node), readyEP("10.244.2.2", "node-b"),
				ep{ip: "10.244.1.9", node: node})},
		},
		{
			name: "endpoints-from-several-slices-deduplicated",
			svcs: []*v1.Service{service("web", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 0)})},
			slice: []*discoveryv1.EndpointSlice{
				slice("web", "web-1", httpPorts, readyEP("10.244.1.2", node)),
				slice("web", "web-2", httpPorts, readyEP("10.244.1.2", node), readyEP("10.244.2.2", "node-b")),
			},
		},
		{
			name: "no-endpoints-rejects",
			svcs: []*v1.Service{service("web", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 30080)}, withType(v1.ServiceTypeNodePort))},
		},
		{
			name: "terminating-endpoints-only-when-nothing-else",
			svcs: []*v1.Service{
				service("a", "10.96.0.11", []v1.ServicePort{tcp("http", 80, 0)}),
				service("b", "10.96.0.12", []v1.ServicePort{tcp("http", 80, 0)}),
			},
			slice: []*discoveryv1.EndpointSlice{
				slice("a", "a-1", httpPorts, readyEP("10.244.1.2", node), ep{ip: "10.244.1.3", node: node, serving: true, terminating: true}),
				slice("b", "b-1", httpPorts, ep{ip: "10.244.1.4", node: node, serving: true, terminating: true}, ep{ip: "10.244.1.5", node: node, terminating: true}),
			},
		},
		{
			name: "nodeport-cluster-policy",
			cidr: "10.244.0.0/16",
			svcs: []*v1.Service{service("web", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 30080)}, withType(v1.ServiceTypeNodePort))},
			slice: []*discoveryv1.EndpointSlice{slice("web", "web-1", httpPorts,
				readyEP("10.244.1.2", node), readyEP("10.244.2.2", "node-b"))},
		},
		{
			name: "external-traffic-policy-local",
			cidr: "10.244.0.0/16",
			svcs: []*v1.Service{
				service("local", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 30080)}, withType(v1.ServiceTypeNodePort),
					func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal }),
				service("remote", "10.96.0.11", []v1.ServicePort{tcp("http", 80, 30081)}, withType(v1.ServiceTypeNodePort),
					func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal }),
			},
			slice: []*discoveryv1.EndpointSlice{
				slice("local", "local-1", httpPorts, readyEP("10.244.1.2", node), readyEP("10.244.2.2", "node-b")),
				slice("remote", "remote-1", httpPorts, readyEP("10.244.2.3", "node-b")),
			},
		},
		{
			name: "internal-traffic-policy-local",
			svcs: []*v1.Service{
				service("local", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 0)},
					func(s *v1.Service) { s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal) }),
				service("remote", "10.96.0.11", []v1.ServicePort{tcp("http", 80, 0)},
					func(s *v1.Service) { s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal) }),
			},
			slice: []*discoveryv1.EndpointSlice{
				slice("local", "local-1", httpPorts, readyEP("10.244.1.2", node), readyEP("10.244.2.2", "node-b")),
				slice("remote", "remote-1", httpPorts, readyEP("10.244.2.3", "node-b")),
			},
		},
		{
			name: "session-affinity-client-ip",
			svcs: []*v1.Service{service("sticky", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 0)}, func(s *v1.Service) {
				s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](600)}}
			})},
			slice: []*discoveryv1.EndpointSlice{slice("sticky", "sticky-1", httpPorts, readyEP("10.244.1.2", node), readyEP("10.244.1.3", node))},
		},
		{
			name: "external-ips-and-load-balancer",
			svcs: []*v1.Service{
				service("ext", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 0)}, func(s *v1.Service) { s.Spec.ExternalIPs = []string{"172.31.0.100", "fd00::1"} }),
				service("lb", "10.96.0.11", []v1.ServicePort{tcp("http", 80, 30080)}, withType(v1.ServiceTypeLoadBalancer), func(s *v1.Service) {
					s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "172.31.0.2"}, {IP: "172.31.0.3"}, {Hostname: "lb.example"}}
				}),
				service("lb-empty", "10.96.0.12", []v1.ServicePort{tcp("http", 80, 30081)}, withType(v1.ServiceTypeLoadBalancer), func(s *v1.Service) {
					s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "172.31.0.2"}}
				}),
			},
			slice: []*discoveryv1.EndpointSlice{
				slice("ext", "ext-1", httpPorts, readyEP("10.244.1.2", node)),
				slice("lb", "lb-1", httpPorts, readyEP("10.244.1.3", node)),
			},
		},
		{
			name: "udp-and-named-ports",
			svcs: []*v1.Service{service("dns", "10.96.0.10", []v1.ServicePort{udp("dns", 53), tcp("dns-tcp", 53, 0)})},
			slice: []*discoveryv1.EndpointSlice{slice("dns", "dns-1",
				[]discoveryv1.EndpointPort{sport("dns", v1.ProtocolUDP, 5353), sport("dns-tcp", v1.ProtocolTCP, 5353)},
				readyEP("10.244.1.2", node))},
		},
		{
			name: "headless-externalname-and-unsupported-get-no-rules",
			svcs: []*v1.Service{
				service("headless", v1.ClusterIPNone, []v1.ServicePort{tcp("http", 80, 0)}),
				service("name", "", nil, withType(v1.ServiceTypeExternalName), func(s *v1.Service) { s.Spec.ExternalName = "example.com" }),
				service("v6", "fd00::10", []v1.ServicePort{tcp("http", 80, 0)}),
				service("sctp", "10.96.0.13", []v1.ServicePort{{Name: "s", Protocol: v1.ProtocolSCTP, Port: 9}}),
			},
			slice: []*discoveryv1.EndpointSlice{slice("headless", "headless-1", httpPorts, readyEP("10.244.1.2", node))},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(Input{NodeName: node, ClusterCIDR: tc.cidr, Services: tc.svcs, Slices: tc.slice})
			var b strings.Builder
			b.WriteString(r.Dump())
			for _, p := range r.Problems {
				fmt.Fprintf(&b, "# problem %s/%s %s: %s\n", p.Namespace, p.Name, p.Reason, p.Message)
			}
			for _, sp := range r.Ports {
				fmt.Fprintf(&b, "# port %s %s cluster %s:%d node port %d external %v endpoints %v\n", sp.Name, sp.Protocol, sp.ClusterIP, sp.Port, sp.NodePort, sp.ExternalIPs, sp.Endpoints)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".golden"), b.String())

			// Input order does not matter.
			rev := Input{NodeName: node, ClusterCIDR: tc.cidr}
			for i := len(tc.svcs) - 1; i >= 0; i-- {
				rev.Services = append(rev.Services, tc.svcs[i])
			}
			for i := len(tc.slice) - 1; i >= 0; i-- {
				rev.Slices = append(rev.Slices, tc.slice[i])
			}
			if got := Build(rev).Dump(); got != r.Dump() {
				t.Errorf("rules depend on the input order:\n%s\nvs\n%s", got, r.Dump())
			}
		})
	}
}

func TestChainNamesMatchUpstream(t *testing.T) {
	// Values from Kubernetes' own proxier tests.
	if got, want := SVCChain("ns1/svc1:p80", "tcp"), "KUBE-SVC-XPGD46QRK7WJZT7O"; got != want {
		t.Errorf("SVCChain = %s, want %s", got, want)
	}
	if got, want := SEPChain("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ"; got != want {
		t.Errorf("SEPChain = %s, want %s", got, want)
	}
}

func TestDiffWritesOnlyWhatChanged(t *testing.T) {
	ports := []discoveryv1.EndpointPort{sport("http", v1.ProtocolTCP, 8080)}
	svcs := []*v1.Service{
		service("a", "10.96.0.10", []v1.ServicePort{tcp("http", 80, 0)}),
		service("b", "10.96.0.11", []v1.ServicePort{tcp("http", 80, 0)}),
	}
	before := Build(Input{NodeName: node, Services: svcs, Slices: []*discoveryv1.EndpointSlice{
		slice("a", "a-1", ports, readyEP("10.244.1.2", node), readyEP("10.244.1.3", node)),
		slice("b", "b-1", ports, readyEP("10.244.1.4", node)),
	}})
	after := Build(Input{NodeName: node, Services: svcs, Slices: []*discoveryv1.EndpointSlice{
		slice("a", "a-1", ports, readyEP("10.244.1.2", node), readyEP("10.244.1.5", node)),
		slice("b", "b-1", ports, readyEP("10.244.1.4", node)),
	}})
	var got []string
	for _, op := range Diff(before, after, nil) {
		verb := "write"
		if op.Chain == nil {
			verb = "delete"
		}
		got = append(got, verb+" "+op.Name())
	}
	want := []string{
		"write " + SEPChain("ns/a:http", "tcp", "10.244.1.5:8080"),
		"write " + SVCChain("ns/a:http", "tcp"),
		"delete " + SEPChain("ns/a:http", "tcp", "10.244.1.3:8080"),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ops := Diff(after, after, nil); len(ops) != 0 {
		t.Errorf("no change gave %d ops", len(ops))
	}
}

func TestDiffFullDeletesStaleOwnedChainsOnly(t *testing.T) {
	r := Build(Input{NodeName: node})
	existing := map[string][]string{
		TableNAT:    {"KUBE-SERVICES", "KUBE-SVC-STALE0000000000", "KUBE-SEP-STALE0000000000", "KUBE-MARK-DROP", "CNI-HOSTPORT-DNAT", "PREROUTING"},
		TableFilter: {"KUBE-FORWARD", "KUBE-KUBELET-CANARY", "FORWARD"},
	}
	var deleted []string
	for _, op := range Diff(nil, r, existing) {
		if op.Chain == nil {
			deleted = append(deleted, op.Table+"/"+op.Delete)
		}
	}
	want := "nat/KUBE-SVC-STALE0000000000 nat/KUBE-SEP-STALE0000000000"
	if strings.Join(deleted, " ") != want {
		t.Errorf("deleted %v, want %s", deleted, want)
	}
}

func TestRenderSplitsLargeSyncsInOrder(t *testing.T) {
	ports := []discoveryv1.EndpointPort{sport("http", v1.ProtocolTCP, 8080)}
	in := Input{NodeName: node}
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("s%02d", i)
		in.Services = append(in.Services, service(name, fmt.Sprintf("10.96.1.%d", i), []v1.ServicePort{tcp("http", 80, 0)}))
		in.Slices = append(in.Slices, slice(name, name+"-1", ports, readyEP(fmt.Sprintf("10.244.1.%d", i), node), readyEP(fmt.Sprintf("10.244.2.%d", i), "node-b")))
	}
	r := Build(in)
	ops := Diff(nil, r, nil)
	payloads := Render(ops, 40)
	if len(payloads) < 4 {
		t.Fatalf("%d payloads for %d ops, want several", len(payloads), len(ops))
	}
	// Every jump target is declared in the same or an earlier payload.
	declared := map[string]bool{"RETURN": true, "MARK": true, "MASQUERADE": true, "REJECT": true, "DROP": true, "ACCEPT": true, "DNAT": true}
	for i, p := range payloads {
		for _, line := range strings.Split(p, "\n") {
			if strings.HasPrefix(line, ":") {
				declared[strings.Fields(line[1:])[0]] = true
			}
		}
		for _, line := range strings.Split(p, "\n") {
			f := strings.Fields(line)
			for j := range f {
				if f[j] == "-j" && !declared[f[j+1]] {
					t.Errorf("payload %d jumps to %s before it exists", i, f[j+1])
				}
			}
		}
	}
	if strings.Join(payloads, "") == "" || Render(ops, 0)[0] != r.Dump() {
		t.Error("one payload differs from Dump")
	}
}

func TestCacheGivesTheSameRules(t *testing.T) {
	in := synthetic(20)
	in.Cache = &Cache{}
	for step := 0; step < 4; step++ {
		switch step {
		case 1: // an endpoint moves
			s := in.Slices[3].DeepCopy()
			s.ResourceVersion = "2"
			s.Endpoints[0].Addresses = []string{"10.1.0.1"}
			in.Slices[3] = s
		case 2: // a service changes type, one goes away
			svc := in.Services[5].DeepCopy()
			svc.ResourceVersion = "2"
			svc.Spec.Type = v1.ServiceTypeNodePort
			svc.Spec.Ports[0].NodePort = 30000
			in.Services[5] = svc
			in.Services = in.Services[1:]
		case 3: // the slice of another goes away
			in.Slices = append(in.Slices[:7:7], in.Slices[8:]...)
		}
		cached := Build(in)
		fresh := Build(Input{NodeName: in.NodeName, ClusterCIDR: in.ClusterCIDR, Services: in.Services, Slices: in.Slices})
		if cached.Dump() != fresh.Dump() {
			t.Fatalf("step %d: cached rules differ from fresh ones", step)
		}
		if len(in.Cache.entries) != len(in.Services) {
			t.Errorf("step %d: cache holds %d services, want %d", step, len(in.Cache.entries), len(in.Services))
		}
	}
}

func TestLargeClusterDropsEndpointComments(t *testing.T) {
	for _, tc := range []struct {
		services int
		large    bool
	}{{100, false}, {101, true}} { // 10 endpoints each; the threshold is 1000
		r := Build(synthetic(tc.services))
		sep := r.NAT.Get(SEPChain("ns/svc-00000:http", "tcp", "10.128.0.0:8080"))
		svc := r.NAT.Get(SVCChain("ns/svc-00000:http", "tcp"))
		if sep == nil || svc == nil {
			t.Fatalf("%d services: chains missing", tc.services)
		}
		for _, rule := range append(append([]string{}, sep.Rules...), svc.Rules...) {
			if strings.Contains(rule, "--comment") == tc.large {
				t.Errorf("%d services (large %v): %s", tc.services, tc.large, rule)
			}
		}
		if !strings.Contains(r.NAT.Get(ChainServices).Rules[0], "--comment") {
			t.Errorf("%d services: service rules lost their comment", tc.services)
		}
	}
}
