// Package networking defines networking.k8s.io/v1 Ingresses and
// IngressClasses, and the ServiceCIDRs and IPAddresses that record the
// Service IP ranges and the ClusterIPs allocated from them.
package networking

import (
	networkingv1 "k8s.io/api/networking/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the networking.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{Ingresses(), IngressClasses(), ServiceCIDRs(), IPAddresses()}
}

// Ingresses.
func Ingresses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(networkingv1.SchemeGroupVersion, "ingresses", &networkingv1.Ingress{}, &networkingv1.IngressList{})
	d.Namespaced = true
	d.ShortNames = []string{"ing"}
	d.TracksGeneration = true
	d.Strategy = ingressStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.Ingress()
	return d
}
