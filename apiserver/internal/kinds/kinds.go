// Package kinds lists every kind the apiserver serves, group by group.
package kinds

import (
	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/kinds/admissionregistration"
	"coracle.dev/apiserver/internal/kinds/apiextensions"
	"coracle.dev/apiserver/internal/kinds/apiregistration"
	"coracle.dev/apiserver/internal/kinds/apps"
	"coracle.dev/apiserver/internal/kinds/autoscaling"
	"coracle.dev/apiserver/internal/kinds/batch"
	"coracle.dev/apiserver/internal/kinds/certificates"
	"coracle.dev/apiserver/internal/kinds/coordination"
	"coracle.dev/apiserver/internal/kinds/core"
	"coracle.dev/apiserver/internal/kinds/discovery"
	"coracle.dev/apiserver/internal/kinds/events"
	"coracle.dev/apiserver/internal/kinds/flowcontrol"
	"coracle.dev/apiserver/internal/kinds/networking"
	"coracle.dev/apiserver/internal/kinds/node"
	"coracle.dev/apiserver/internal/kinds/policy"
	"coracle.dev/apiserver/internal/kinds/rbac"
	"coracle.dev/apiserver/internal/kinds/resource"
	"coracle.dev/apiserver/internal/kinds/scheduling"
	"coracle.dev/apiserver/internal/kinds/storage"
	"coracle.dev/apiserver/internal/kinds/storagemigration"
)

// All returns every served kind; core first, as discovery lists them.
func All() []*apiresource.Descriptor {
	var out []*apiresource.Descriptor
	for _, group := range [][]*apiresource.Descriptor{
		core.All(), apps.All(), batch.All(), coordination.All(), discovery.All(),
		autoscaling.All(), networking.All(), storage.All(), scheduling.All(), certificates.All(),
		rbac.All(), policy.All(), apiextensions.All(), flowcontrol.All(),
		admissionregistration.All(), apiregistration.All(),
		node.All(), resource.All(), storagemigration.All(), events.All(),
	} {
		out = append(out, group...)
	}
	return out
}

// NewRegistry returns the registry of every served kind.
func NewRegistry() (*apiresource.Registry, error) {
	return apiresource.NewRegistry(All()...)
}
