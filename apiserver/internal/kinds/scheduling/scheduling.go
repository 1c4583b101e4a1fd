// Package scheduling defines scheduling.k8s.io/v1 PriorityClasses.
package scheduling

import (
	schedulingv1 "k8s.io/api/scheduling/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the scheduling.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor { return []*apiresource.Descriptor{PriorityClasses()} }

// PriorityClasses: cluster-scoped.
func PriorityClasses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(schedulingv1.SchemeGroupVersion, "priorityclasses", &schedulingv1.PriorityClass{}, &schedulingv1.PriorityClassList{})
	d.ShortNames = []string{"pc"}
	d.Strategy = priorityClassStrategy{}
	d.Table = printers.PriorityClass()
	return d
}
