// Package scheduling defines scheduling.k8s.io/v1 PriorityClasses.
package scheduling

import (
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the scheduling.k8s.io/v1 kinds.
func All() []*resource.Descriptor { return []*resource.Descriptor{PriorityClasses()} }

// PriorityClasses: cluster-scoped.
func PriorityClasses() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "scheduling.k8s.io", Version: "v1", Kind: "PriorityClass", Resource: "priorityclasses", Singular: "priorityclass",
		ShortNames: []string{"pc"},
		New:        func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList:    func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Strategy:   priorityClassStrategy{},
		Table:      printers.PriorityClass(),
	}
}
