package discovery

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func wantErr(t *testing.T, errs field.ErrorList, path string, typ field.ErrorType) {
	t.Helper()
	if path == "" {
		if len(errs) != 0 {
			t.Fatalf("want no errors, got %v", errs)
		}
		return
	}
	if len(errs) == 0 || errs[0].Field != path || errs[0].Type != typ {
		t.Fatalf("want %s at %s first, got %v", typ, path, errs)
	}
}

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
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		path   string
		typ    field.ErrorType
	}{
		{"slice with service-name label is valid", func(*discoveryv1.EndpointSlice) {}, "", ""},
		{"addressType is required", func(es *discoveryv1.EndpointSlice) { es.AddressType = "" }, "addressType", field.ErrorTypeRequired},
		{"unknown addressType is not supported", func(es *discoveryv1.EndpointSlice) { es.AddressType = "IP" }, "addressType", field.ErrorTypeNotSupported},
		{"endpoint needs an address", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = nil }, "endpoints[0].addresses", field.ErrorTypeRequired},
		{"endpoint holds at most 100 addresses", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = many(101) }, "endpoints[0].addresses", field.ErrorTypeTooMany},
		{"slice holds at most 1000 endpoints", func(es *discoveryv1.EndpointSlice) {
			es.Endpoints = make([]discoveryv1.Endpoint, 1001)
		}, "endpoints", field.ErrorTypeTooMany},
		{"IPv4 slice refuses an IPv6 address", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"fd00::1"} }, "endpoints[0].addresses[0]", field.ErrorTypeInvalid},
		{"IPv6 slice accepts an IPv6 address", func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeIPv6
			es.Endpoints[0].Addresses = []string{"fd00::1"}
		}, "", ""},
		{"IPv6 slice refuses an IPv4 address", func(es *discoveryv1.EndpointSlice) { es.AddressType = discoveryv1.AddressTypeIPv6 }, "endpoints[0].addresses[0]", field.ErrorTypeInvalid},
		{"address must be an IP", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"web"} }, "endpoints[0].addresses[0]", field.ErrorTypeInvalid},
		{"loopback address is refused", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"127.0.0.1"} }, "endpoints[0].addresses[0]", field.ErrorTypeInvalid},
		{"FQDN slice accepts a domain name", func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeFQDN
			es.Endpoints[0].Addresses = []string{"db.example.com"}
		}, "", ""},
		{"FQDN slice refuses a bare label", func(es *discoveryv1.EndpointSlice) {
			es.AddressType = discoveryv1.AddressTypeFQDN
			es.Endpoints[0].Addresses = []string{"db"}
		}, "endpoints[0].addresses[0]", field.ErrorTypeInvalid},
		{"hostname must be a DNS label", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Hostname = ptr.To("web.0") }, "endpoints[0].hostname", field.ErrorTypeInvalid},
		{"nodeName must be a DNS subdomain", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].NodeName = ptr.To("Node_1") }, "endpoints[0].nodeName", field.ErrorTypeInvalid},
		{"zone hints may not repeat", func(es *discoveryv1.EndpointSlice) {
			es.Endpoints[0].Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}, {Name: "a"}}}
		}, "endpoints[0].hints.forZones[1].name", field.ErrorTypeDuplicate},
		{"port name must be a DNS label", func(es *discoveryv1.EndpointSlice) { es.Ports[0].Name = ptr.To("HTTP") }, "ports[0].name", field.ErrorTypeInvalid},
		{"port names must be unique", func(es *discoveryv1.EndpointSlice) {
			es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr.To("http"), Port: ptr.To[int32](81)})
		}, "ports[1].name", field.ErrorTypeDuplicate},
		{"port protocol must be TCP, UDP or SCTP", func(es *discoveryv1.EndpointSlice) {
			es.Ports[0].Protocol = ptr.To(corev1.Protocol("ICMP"))
		}, "ports[0].protocol", field.ErrorTypeNotSupported},
		{"port number must be in range", func(es *discoveryv1.EndpointSlice) { es.Ports[0].Port = ptr.To[int32](70000) }, "ports[0].port", field.ErrorTypeInvalid},
		{"slice holds at most 100 ports", func(es *discoveryv1.EndpointSlice) {
			es.Ports = make([]discoveryv1.EndpointPort, 101)
		}, "ports", field.ErrorTypeTooMany},
		{"appProtocol must be a qualified name", func(es *discoveryv1.EndpointSlice) {
			es.Ports[0].AppProtocol = ptr.To("http 2")
		}, "ports[0].appProtocol", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := newSlice()
			tt.mutate(es)
			s := EndpointSlices().Strategy
			s.Default(es)
			wantErr(t, s.Validate(es), tt.path, tt.typ)
		})
	}
}

func TestEndpointSliceUpdate(t *testing.T) {
	s := EndpointSlices().Strategy
	old := newSlice()
	s.Default(old)

	t.Run("addressType is immutable", func(t *testing.T) {
		es := old.DeepCopy()
		es.AddressType = discoveryv1.AddressTypeFQDN
		es.Endpoints[0].Addresses = []string{"db.example.com"}
		wantErr(t, s.ValidateUpdate(es, old), "addressType", field.ErrorTypeInvalid)
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
