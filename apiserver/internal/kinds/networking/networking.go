// Package networking defines networking.k8s.io/v1 Ingresses.
package networking

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the networking.k8s.io/v1 kinds.
func All() []*resource.Descriptor { return []*resource.Descriptor{Ingresses()} }

// Ingresses.
func Ingresses() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "networking.k8s.io", Version: "v1", Kind: "Ingress", Resource: "ingresses", Singular: "ingress",
		Namespaced: true, ShortNames: []string{"ing"}, TracksGeneration: true,
		New:          func() runtime.Object { return &networkingv1.Ingress{} },
		NewList:      func() runtime.Object { return &networkingv1.IngressList{} },
		Strategy:     ingressStrategy{},
		Subresources: []string{resource.Status},
		Table:        printers.Ingress(),
	}
}
