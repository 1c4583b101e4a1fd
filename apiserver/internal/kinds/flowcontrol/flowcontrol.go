// Package flowcontrol defines flowcontrol.apiserver.k8s.io/v1 FlowSchemas
// and PriorityLevelConfigurations: the configuration of API Priority and
// Fairness, which classifies every request into a flow and a priority
// level and queues or rejects it there (internal/flowcontrol). Both kinds
// are cluster-scoped with a status subresource; defaults and validation
// are Kubernetes' (pkg/apis/flowcontrol/v1 and validation), including the
// rule that the mandatory objects keep their fixed specs.
package flowcontrol

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the flowcontrol.apiserver.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{FlowSchemas(), PriorityLevelConfigurations()}
}

// FlowSchemas: cluster-scoped, with status; names are DNS subdomains.
func FlowSchemas() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(flowcontrolv1.SchemeGroupVersion, "flowschemas", &flowcontrolv1.FlowSchema{}, &flowcontrolv1.FlowSchemaList{})
	d.Subresources = []string{apiresource.Status}
	d.TracksGeneration = true
	d.Strategy = flowSchemaStrategy{}
	d.Table = printers.FlowSchema()
	return d
}

// PriorityLevelConfigurations: cluster-scoped, with status.
func PriorityLevelConfigurations() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(flowcontrolv1.SchemeGroupVersion, "prioritylevelconfigurations",
		&flowcontrolv1.PriorityLevelConfiguration{}, &flowcontrolv1.PriorityLevelConfigurationList{})
	d.Subresources = []string{apiresource.Status}
	d.TracksGeneration = true
	d.Strategy = priorityLevelStrategy{}
	d.Table = printers.PriorityLevelConfiguration()
	return d
}
