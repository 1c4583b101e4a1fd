// Package discovery defines discovery.k8s.io/v1 EndpointSlices.
package discovery

import (
	discoveryv1 "k8s.io/api/discovery/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the discovery.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor { return []*apiresource.Descriptor{EndpointSlices()} }

// EndpointSlices.
func EndpointSlices() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(discoveryv1.SchemeGroupVersion, "endpointslices", &discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{})
	d.Namespaced = true
	d.Strategy = endpointSliceStrategy{}
	d.Table = printers.EndpointSlice()
	return d
}
