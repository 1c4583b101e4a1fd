package networking

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newServiceCIDR() *networkingv1.ServiceCIDR {
	return &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "extra"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.100.0.0/16"}}}
}

func TestServiceCIDRValidate(t *testing.T) {
	kindstest.Create(t, ServiceCIDRs().Strategy, newServiceCIDR, []kindstest.Case[*networkingv1.ServiceCIDR]{
		{Name: "one IPv4 range is valid", Mutate: func(*networkingv1.ServiceCIDR) {}},
		{Name: "one range per family is valid", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = append(c.Spec.CIDRs, "2001:db8::/112") }},
		{Name: "a range is required", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = nil }, Path: "spec.cidrs", Type: field.ErrorTypeRequired},
		{Name: "at most two ranges", Mutate: func(c *networkingv1.ServiceCIDR) {
			c.Spec.CIDRs = []string{"10.100.0.0/16", "2001:db8::/112", "10.101.0.0/16"}
		}, Path: "spec.cidrs", Type: field.ErrorTypeInvalid},
		{Name: "two ranges of one family are invalid", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = append(c.Spec.CIDRs, "10.101.0.0/16") },
			Path: "spec.cidrs", Type: field.ErrorTypeInvalid},
		{Name: "a range must be a CIDR", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = []string{"10.100.0.0"} }, Path: "spec.cidrs[0]", Type: field.ErrorTypeInvalid},
		{Name: "a range must be canonical", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = []string{"10.100.0.1/16"} }, Path: "spec.cidrs[0]", Type: field.ErrorTypeInvalid},
	})
}

func TestServiceCIDRUpdate(t *testing.T) {
	kindstest.Update(t, ServiceCIDRs().Strategy, newServiceCIDR, "", []kindstest.Case[*networkingv1.ServiceCIDR]{
		{Name: "labels may change", Mutate: func(c *networkingv1.ServiceCIDR) { c.Labels = map[string]string{"a": "b"} }},
		{Name: "a single-stack range may become dual-stack", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = append(c.Spec.CIDRs, "2001:db8::/112") }},
		{Name: "a range is immutable", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs[0] = "10.200.0.0/16" }, Path: "spec.cidrs[0]", Type: field.ErrorTypeInvalid},
		{Name: "the existing range stays first", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = []string{"2001:db8::/112", "10.100.0.0/16"} },
			Path: "spec.cidrs[0]", Type: field.ErrorTypeInvalid},
		{Name: "ranges may not be removed", Mutate: func(c *networkingv1.ServiceCIDR) { c.Spec.CIDRs = nil }, Path: "spec.cidrs", Type: field.ErrorTypeInvalid},
	})
}

func newIPAddress() *networkingv1.IPAddress {
	return &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: "10.96.0.1"},
		Spec:       networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "default", Name: "kubernetes"}},
	}
}

func TestIPAddressValidate(t *testing.T) {
	kindstest.Create(t, IPAddresses().Strategy, newIPAddress, []kindstest.Case[*networkingv1.IPAddress]{
		{Name: "address of a service is valid", Mutate: func(*networkingv1.IPAddress) {}},
		{Name: "parentRef is required", Mutate: func(ip *networkingv1.IPAddress) { ip.Spec.ParentRef = nil }, Path: "spec.parentRef", Type: field.ErrorTypeRequired},
		{Name: "parent resource is required", Mutate: func(ip *networkingv1.IPAddress) { ip.Spec.ParentRef.Resource = "" }, Path: "spec.parentRef.resource", Type: field.ErrorTypeRequired},
		{Name: "parent name is required", Mutate: func(ip *networkingv1.IPAddress) { ip.Spec.ParentRef.Name = "" }, Path: "spec.parentRef.name", Type: field.ErrorTypeRequired},
		{Name: "parent group is a DNS subdomain", Mutate: func(ip *networkingv1.IPAddress) { ip.Spec.ParentRef.Group = "Gateway_API" }, Path: "spec.parentRef.group", Type: field.ErrorTypeInvalid},
	})
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"10.96.0.1", true}, {"2001:db8::1", true}, {"10.096.0.1", false}, {"2001:DB8::1", false}, {"web", false}} {
		if got := len(validateIPAddressName(tt.name, false)) == 0; got != tt.ok {
			t.Errorf("name %q valid = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestIPAddressUpdate(t *testing.T) {
	kindstest.Update(t, IPAddresses().Strategy, newIPAddress, "", []kindstest.Case[*networkingv1.IPAddress]{
		{Name: "labels may change", Mutate: func(ip *networkingv1.IPAddress) { ip.Labels = map[string]string{"a": "b"} }},
		{Name: "parentRef is immutable", Mutate: func(ip *networkingv1.IPAddress) { ip.Spec.ParentRef.Name = "other" }, Path: "spec.parentRef", Type: field.ErrorTypeInvalid},
	})
}
