// Package coordination defines coordination.k8s.io/v1 Leases: node
// heartbeats and leader election.
package coordination

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the coordination.k8s.io/v1 kinds.
func All() []*resource.Descriptor { return []*resource.Descriptor{Leases()} }

// Leases.
func Leases() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", Resource: "leases", Singular: "lease",
		Namespaced: true,
		New:        func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:    func() runtime.Object { return &coordinationv1.LeaseList{} },
		Strategy:   leaseStrategy{},
		Table:      printers.Lease(),
	}
}
