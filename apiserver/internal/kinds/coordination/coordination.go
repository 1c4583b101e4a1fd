// Package coordination defines coordination.k8s.io/v1 Leases: node
// heartbeats and leader election.
package coordination

import (
	coordinationv1 "k8s.io/api/coordination/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the coordination.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor { return []*apiresource.Descriptor{Leases()} }

// Leases.
func Leases() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(coordinationv1.SchemeGroupVersion, "leases", &coordinationv1.Lease{}, &coordinationv1.LeaseList{})
	d.Namespaced = true
	d.Strategy = leaseStrategy{}
	d.Table = printers.Lease()
	return d
}
