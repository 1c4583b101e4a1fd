package core

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// defaultedService is a one-port Service after mutate and the defaults.
func defaultedService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	serviceStrategy{}.Default(svc)
	return svc
}

// allocated stands in for the allocator, which runs after validation.
func allocated(svc *corev1.Service, ip string, nodePort int32) *corev1.Service {
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
	if nodePort != 0 {
		svc.Spec.Ports[0].NodePort = nodePort
	}
	return svc
}

func TestDefaultService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		check  func(*testing.T, *corev1.ServiceSpec)
	}{
		{"type defaults to ClusterIP", nil, func(t *testing.T, s *corev1.ServiceSpec) { eq(t, s.Type, corev1.ServiceTypeClusterIP) }},
		{"session affinity defaults to None", nil, func(t *testing.T, s *corev1.ServiceSpec) {
			eq(t, s.SessionAffinity, corev1.ServiceAffinityNone)
			eq(t, s.SessionAffinityConfig, (*corev1.SessionAffinityConfig)(nil))
		}},
		{"ClientIP affinity times out after 3 hours", func(svc *corev1.Service) { svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP },
			func(t *testing.T, s *corev1.ServiceSpec) {
				eq(t, s.SessionAffinityConfig.ClientIP.TimeoutSeconds, ptr.To(int32(10800)))
			}},
		{"port protocol defaults to TCP", nil, func(t *testing.T, s *corev1.ServiceSpec) { eq(t, s.Ports[0].Protocol, corev1.ProtocolTCP) }},
		{"targetPort defaults to port", nil, func(t *testing.T, s *corev1.ServiceSpec) { eq(t, s.Ports[0].TargetPort, intstr.FromInt32(80)) }},
		{"a named targetPort is kept", func(svc *corev1.Service) { svc.Spec.Ports[0].TargetPort = intstr.FromString("http") },
			func(t *testing.T, s *corev1.ServiceSpec) { eq(t, s.Ports[0].TargetPort, intstr.FromString("http")) }},
		{"internal traffic policy defaults to Cluster", nil, func(t *testing.T, s *corev1.ServiceSpec) {
			eq(t, s.InternalTrafficPolicy, ptr.To(corev1.ServiceInternalTrafficPolicyCluster))
		}},
		{"a ClusterIP Service has no external traffic policy", nil, func(t *testing.T, s *corev1.ServiceSpec) {
			eq(t, s.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicy(""))
		}},
		{"a NodePort Service's external traffic policy defaults to Cluster", func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeNodePort },
			func(t *testing.T, s *corev1.ServiceSpec) {
				eq(t, s.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
			}},
		{"a LoadBalancer allocates node ports by default", func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeLoadBalancer },
			func(t *testing.T, s *corev1.ServiceSpec) {
				eq(t, s.AllocateLoadBalancerNodePorts, ptr.To(true))
				eq(t, s.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
			}},
		{"IP families default to single-stack IPv4", nil, func(t *testing.T, s *corev1.ServiceSpec) {
			eq(t, s.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol})
			eq(t, s.IPFamilyPolicy, ptr.To(corev1.IPFamilyPolicySingleStack))
		}},
		{"clusterIPs follows a lone clusterIP", func(svc *corev1.Service) { svc.Spec.ClusterIP = "10.96.0.10" },
			func(t *testing.T, s *corev1.ServiceSpec) { eq(t, s.ClusterIPs, []string{"10.96.0.10"}) }},
		{"an ExternalName Service gets no IP fields", func(svc *corev1.Service) {
			svc.Spec.Type, svc.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
		}, func(t *testing.T, s *corev1.ServiceSpec) {
			eq(t, s.IPFamilies, []corev1.IPFamily(nil))
			eq(t, s.IPFamilyPolicy, (*corev1.IPFamilyPolicy)(nil))
			eq(t, s.InternalTrafficPolicy, (*corev1.ServiceInternalTrafficPolicy)(nil))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, &defaultedService(tt.mutate).Spec)
		})
	}
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []string
	}{
		{"an unallocated ClusterIP Service is valid", nil, nil},
		{"an unallocated NodePort Service is valid", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster
		}, nil},
		{"a headless Service needs no ports", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}, nil
		}, nil},
		{"ports are required", func(s *corev1.Service) { s.Spec.Ports = nil }, []string{"spec.ports: Required value"}},
		{"type is supported", func(s *corev1.Service) { s.Spec.Type = "Internal" }, []string{"spec.type: Unsupported value"}},
		{"port is in range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, []string{"spec.ports[0].port: Invalid value"}},
		{"targetPort is in range", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) },
			[]string{"spec.ports[0].targetPort: Invalid value"}},
		{"port names are required with several ports", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(443)})
		}, []string{"spec.ports[0].name: Required value"}},
		{"port names are unique", func(s *corev1.Service) {
			s.Spec.Ports[0].Name = "http"
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(443)})
		}, []string{"spec.ports[1].name: Duplicate value"}},
		{"port and protocol are unique", func(s *corev1.Service) {
			s.Spec.Ports[0].Name = "a"
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "b", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)})
		}, []string{"spec.ports[1]: Duplicate value"}},
		{"port protocol is supported", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" },
			[]string{"spec.ports[0].protocol: Unsupported value"}},
		{"nodePort is only for NodePort and LoadBalancer", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			[]string{"spec.ports[0].nodePort: Forbidden"}},
		{"a NodePort Service may ask for a node port", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 30080
		}, nil},
		{"ExternalName needs a name", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, SessionAffinity: corev1.ServiceAffinityNone}
		}, []string{"spec.externalName: Required value"}},
		{"ExternalName is a DNS subdomain", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db_1.example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}, []string{"spec.externalName: Invalid value"}},
		{"ExternalName may end with a dot", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com.", SessionAffinity: corev1.ServiceAffinityNone}
		}, nil},
		{"ExternalName has no cluster IPs", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone,
				ClusterIP: "10.96.0.5", ClusterIPs: []string{"10.96.0.5"}}
		}, []string{"spec.clusterIPs: Forbidden"}},
		{"selector labels are valid", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web app"} },
			[]string{"spec.selector: Invalid value"}},
		{"session affinity is supported", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" },
			[]string{"spec.sessionAffinity: Unsupported value"}},
		{"ClientIP timeout is at most a day", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(86401))}}
		}, []string{"spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value"}},
		{"clusterIPs start with clusterIP", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.5", []string{"10.96.0.6"}
		}, []string{"spec.clusterIPs: Invalid value"}},
		{"clusterIP is an IP", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "ten", []string{"ten"} },
			[]string{"spec.clusterIPs[0]: Invalid value"}},
		{"a NodePort Service is not headless", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, []string{"spec.clusterIPs[0]: Invalid value"}},
		{"ipFamilies are supported", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} },
			[]string{"spec.ipFamilies[0]: Unsupported value"}},
		{"external traffic policy only for external services", func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, []string{"spec.externalTrafficPolicy: Invalid value"}},
		{"external IPs are IPs", func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"example.com"}
			s.Spec.ExternalTrafficPolicy = "Cluster"
		},
			[]string{"spec.externalIPs[0]: Invalid value"}},
		{"allocateLoadBalancerNodePorts only for LoadBalancer", func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptr.To(true) },
			[]string{"spec.allocateLoadBalancerNodePorts: Forbidden"}},
		{"load balancer source ranges are CIDRs", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy, s.Spec.AllocateLoadBalancerNodePorts = corev1.ServiceTypeLoadBalancer, "Cluster", ptr.To(true)
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/33"}
		}, []string{"spec.loadBalancerSourceRanges[0]: Invalid value"}},
		{"internal traffic policy is supported", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicy("Node"))
		}, []string{"spec.internalTrafficPolicy: Unsupported value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := defaultedService(nil)
			if tt.mutate != nil {
				tt.mutate(svc)
			}
			checkErrs(t, serviceStrategy{}.Validate(svc), tt.want...)
		})
	}
}

func TestServiceUpdate(t *testing.T) {
	nodePort := func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }
	tests := []struct {
		name   string
		old    *corev1.Service
		update func(*corev1.Service)
		want   []string
		check  func(*testing.T, *corev1.Service)
	}{
		{"a selector change is valid", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "api"} }, nil, nil},
		{"clusterIP is immutable", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.6" }, []string{"spec.clusterIP: Invalid value"}, nil},
		{"a second clusterIP of the same family is refused", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.5", "10.96.0.6"} }, []string{"spec.clusterIPs: Invalid value"}, nil},
		{"the IP family is immutable", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			[]string{"spec.ipFamilies[0]: Invalid value"}, nil},
		{"a PUT without clusterIP keeps the allocated one", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil }, nil,
			func(t *testing.T, s *corev1.Service) {
				eq(t, s.Spec.ClusterIP, "10.96.0.5")
				eq(t, s.Spec.ClusterIPs, []string{"10.96.0.5"})
			}},
		{"a PUT without nodePort keeps the allocated one", allocated(defaultedService(nodePort), "10.96.0.5", 30080),
			func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 0 }, nil,
			func(t *testing.T, s *corev1.Service) { eq(t, s.Spec.Ports[0].NodePort, int32(30080)) }},
		{"changing to ExternalName drops the cluster IP", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
			}, nil,
			func(t *testing.T, s *corev1.Service) {
				eq(t, s.Spec.ClusterIP, "")
				eq(t, s.Spec.ClusterIPs, []string(nil))
				eq(t, s.Spec.IPFamilies, []corev1.IPFamily(nil))
			}},
		{"changing from ExternalName takes a new cluster IP", defaultedService(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports = corev1.ServiceTypeExternalName, "db.example.com", nil
		}), func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeClusterIP, ""
			s.Spec.Ports = []corev1.ServicePort{{Port: 80}}
		}, nil, nil},
		{"changing to ClusterIP drops node ports", allocated(defaultedService(nodePort), "10.96.0.5", 30080),
			func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }, nil,
			func(t *testing.T, s *corev1.Service) {
				eq(t, s.Spec.Ports[0].NodePort, int32(0))
				eq(t, s.Spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicy(""))
			}},
		{"a clusterIP-only client changing it is refused", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.9" }, []string{"spec.clusterIP: Invalid value"},
			func(t *testing.T, s *corev1.Service) { eq(t, s.Spec.ClusterIPs, []string{"10.96.0.9"}) }},
		{"status is kept", allocated(defaultedService(nil), "10.96.0.5", 0),
			func(s *corev1.Service) {
				s.Status.Conditions = []metav1.Condition{{Type: "Fake"}}
			}, nil,
			func(t *testing.T, s *corev1.Service) { eq(t, len(s.Status.Conditions), 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.old.DeepCopy()
			tt.update(svc)
			st := serviceStrategy{}
			st.Default(svc)
			st.PrepareForUpdate(svc, tt.old)
			checkErrs(t, st.ValidateUpdate(svc, tt.old), tt.want...)
			if tt.check != nil {
				tt.check(t, svc)
			}
		})
	}
}

func TestValidateServiceStatusUpdate(t *testing.T) {
	lb := defaultedService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })
	tests := []struct {
		name    string
		svc     *corev1.Service
		ingress []corev1.LoadBalancerIngress
		want    []string
	}{
		{"a load balancer IP is valid", lb, []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}, nil},
		{"the ingress IP is an IP", lb, []corev1.LoadBalancerIngress{{IP: "203.0.113"}}, []string{"status.loadBalancer.ingress[0].ip: Invalid value"}},
		{"the ingress hostname is not an IP", lb, []corev1.LoadBalancerIngress{{Hostname: "203.0.113.7"}}, []string{"status.loadBalancer.ingress[0].hostname: Invalid value"}},
		{"only LoadBalancers have ingress", defaultedService(nil), []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}, []string{"status.loadBalancer.ingress: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc.DeepCopy()
			svc.Status.LoadBalancer.Ingress = tt.ingress
			checkErrs(t, serviceStrategy{}.ValidateStatusUpdate(svc, tt.svc), tt.want...)
		})
	}
}
