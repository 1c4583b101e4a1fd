// Package discovery defines discovery.k8s.io/v1 EndpointSlices.
package discovery

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the discovery.k8s.io/v1 kinds.
func All() []*resource.Descriptor { return []*resource.Descriptor{EndpointSlices()} }

// EndpointSlices.
func EndpointSlices() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Resource: "endpointslices", Singular: "endpointslice",
		Namespaced: true,
		New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Strategy:   endpointSliceStrategy{},
		Table:      printers.EndpointSlice(),
	}
}
