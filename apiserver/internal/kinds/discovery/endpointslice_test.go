package discovery

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newSlice() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-abcde", Namespace: "default", Generation: 1,
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.244.0.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   ptr.To("node-1"),
			Hostname:   ptr.To("web-0"),
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}
}

func TestEndpointSliceDefaults(t *testing.T) {
	es := newSlice()
	es.Ports = append(es.Ports, discoveryv1.EndpointPort{Port: ptr.To[int32](9090)})
	EndpointSlices().Strategy.Default(es)
	for i, p := range es.Ports {
		if p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP {
			t.Errorf("ports[%d].protocol = %v, want TCP", i, p.Protocol)
		}
	}
	if es.Ports[1].Name == nil || *es.Ports[1].Name != "" {
		t.Errorf("unnamed port's name = %v, want \"\"", es.Ports[1].Name)
	}
	if *es.Ports[0].Name != "http" {
		t.Errorf("a set name was changed")
	}
}

func TestEndpointSliceValidate(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
		}
		return out
	}
	kindstest.Create(t, EndpointSlices().Strategy, newSlice, []kindstest.Case[*discoveryv1.EndpointSlice]{
		{Name: "slice with service-name label is valid", Mutate: func(*discoveryv1.EndpointSlice) {}},
		{Name: "addressType is required", Mutate: func(es *discoveryv1.EndpointSlice) { es.AddressType = "" }, Path: "addressType", Type: field.ErrorTypeRequired},
		{Name: "unknown addressType is not supported", Mutate: func(es *discoveryv1.EndpointSlice) { es.AddressType = "IP" }, Path: "addressType", Type: field.ErrorTypeNotSupported},
		{Name: "endpoint needs an address", Mutate: func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = nil }, Path: "endpoints[0].addresses", Type: field.ErrorTypeRequired},
		{Name: "endpoint holds at most 100 addresses", Mutate: func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = many(101) }, Path: "endpoints[0].addresses", Type: field.ErrorTypeTooMany},
		{Name: "slice holds at most 1000 endpoints", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.Endpoints = make([]discoveryv1.Endpoint, 1001)
		}, Path: "endpoints", Type: field.ErrorTypeTooMany},
		{Name: "IPv4 slice refuses an IPv6 address", Mutate: func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"fd00::1"} }, Path: "endpoints[0].addresses[0]", Type: field.ErrorTypeInvalid},
		{Name: "IPv6 slice accepts an IPv6 address", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeIPv6
			es.Endpoints[0].Addresses = []string{"fd00::1"}
		}},
		{Name: "IPv6 slice refuses an IPv4 address", Mutate: func(es *discoveryv1.EndpointSlice) { es.AddressType = discoveryv1.AddressTypeIPv6 }, Path: "endpoints[0].addresses[0]", Type: field.ErrorTypeInvalid},
		{Name: "address must be an IP", Mutate: func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"web"} }, Path: "endpoints[0].addresses[0]", Type: field.ErrorTypeInvalid},
		{Name: "loopback address is refused", Mutate: func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"127.0.0.1"} }, Path: "endpoints[0].addresses[0]", Type: field.ErrorTypeInvalid},
		{Name: "FQDN slice accepts a domain name", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeFQDN
			es.Endpoints[0].Addresses = []string{"db.example.com"}
		}},
		{Name: "FQDN slice refuses a bare label", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeFQDN
			es.Endpoints[0].Addresses = []string{"db"}
		}, Path: "endpoints[0].addresses[0]", Type: field.ErrorTypeInvalid},
		{Name: "hostname must be a DNS label", Mutate: func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Hostname = ptr.To("web.0") }, Path: "endpoints[0].hostname", Type: field.ErrorTypeInvalid},
		{Name: "nodeName must be a DNS subdomain", Mutate: func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].NodeName = ptr.To("Node_1") }, Path: "endpoints[0].nodeName", Type: field.ErrorTypeInvalid},
		{Name: "zone hints may not repeat", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.Endpoints[0].Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}, {Name: "a"}}}
		}, Path: "endpoints[0].hints.forZones[1].name", Type: field.ErrorTypeDuplicate},
		{Name: "port name must be a DNS label", Mutate: func(es *discoveryv1.EndpointSlice) { es.Ports[0].Name = ptr.To("HTTP") }, Path: "ports[0].name", Type: field.ErrorTypeInvalid},
		{Name: "port names must be unique", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr.To("http"), Port: ptr.To[int32](81)})
		}, Path: "ports[1].name", Type: field.ErrorTypeDuplicate},
		{Name: "port protocol must be TCP, UDP or SCTP", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.Ports[0].Protocol = ptr.To(corev1.Protocol("ICMP"))
		}, Path: "ports[0].protocol", Type: field.ErrorTypeNotSupported},
		{Name: "port number must be in range", Mutate: func(es *discoveryv1.EndpointSlice) { es.Ports[0].Port = ptr.To[int32](70000) }, Path: "ports[0].port", Type: field.ErrorTypeInvalid},
		{Name: "slice holds at most 100 ports", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.Ports = make([]discoveryv1.EndpointPort, 101)
		}, Path: "ports", Type: field.ErrorTypeTooMany},
		{Name: "appProtocol must be a qualified name", Mutate: func(es *discoveryv1.EndpointSlice) {
			es.Ports[0].AppProtocol = ptr.To("http 2")
		}, Path: "ports[0].appProtocol", Type: field.ErrorTypeInvalid},
	})
}

func TestEndpointSliceUpdate(t *testing.T) {
	s := EndpointSlices().Strategy
	old := newSlice()
	s.Default(old)

	t.Run("addressType is immutable", func(t *testing.T) {
		es := old.DeepCopy()
		es.AddressType = discoveryv1.AddressTypeFQDN
		es.Endpoints[0].Addresses = []string{"db.example.com"}
		kindstest.WantErr(t, s.ValidateUpdate(es, old), "addressType", field.ErrorTypeInvalid)
	})
	t.Run("endpoint change bumps generation", func(t *testing.T) {
		es := old.DeepCopy()
		es.Endpoints[0].Addresses = []string{"10.244.0.6"}
		s.PrepareForUpdate(es, old)
		if es.Generation != 2 {
			t.Errorf("generation = %d, want 2", es.Generation)
		}
	})
	t.Run("annotation change keeps generation", func(t *testing.T) {
		es := old.DeepCopy()
		es.Annotations = map[string]string{"note": "x"}
		s.PrepareForUpdate(es, old)
		if es.Generation != 1 {
			t.Errorf("generation = %d, want 1", es.Generation)
		}
	})
	t.Run("create starts generation at 1", func(t *testing.T) {
		es := newSlice()
		es.Generation = 0
		s.PrepareForCreate(es)
		if es.Generation != 1 {
			t.Errorf("generation = %d, want 1", es.Generation)
		}
	})
}
