package printers

import (
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/apiresource"
)

// ServiceCIDR columns: Name, CIDRs, Age.
func ServiceCIDR() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("CIDRs", "string", networkingv1.ServiceCIDRSpec{}.SwaggerDoc()["cidrs"]),
		ageColumn(),
	}, func(c *networkingv1.ServiceCIDR, now time.Time) []interface{} {
		return []interface{}{c.Name, strings.Join(c.Spec.CIDRs, ","), since(c.CreationTimestamp, now)}
	})
}

// IPAddress columns: Name, ParentRef ("services/default/kubernetes").
func IPAddress() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("ParentRef", "string", networkingv1.IPAddressSpec{}.SwaggerDoc()["parentRef"]),
	}, ipAddressCells)
}

func ipAddressCells(ip *networkingv1.IPAddress, _ time.Time) []interface{} {
	parent := "<none>"
	if ref := ip.Spec.ParentRef; ref != nil {
		parent = strings.ToLower(schema.GroupResource{Group: ref.Group, Resource: ref.Resource}.String())
		if ref.Namespace != "" {
			parent += "/" + ref.Namespace
		}
		parent += "/" + ref.Name
	}
	return []interface{}{ip.Name, parent}
}
