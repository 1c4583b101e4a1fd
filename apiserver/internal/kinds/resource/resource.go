// Package resource defines resource.k8s.io/v1, dynamic resource
// allocation: DeviceClasses and DeviceTaintRules (cluster-wide), the
// ResourceSlices drivers publish their devices in, and the ResourceClaims
// (and ResourceClaimTemplates) pods ask for devices with. They are served
// and validated even while no driver uses them, as Kubernetes serves
// them.
package resource

import (
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the resource.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{DeviceClasses(), DeviceTaintRules(), ResourceClaims(), ResourceClaimTemplates(), ResourceSlices()}
}

// DeviceClasses: cluster-scoped.
func DeviceClasses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(resourcev1.SchemeGroupVersion, "deviceclasses", &resourcev1.DeviceClass{}, &resourcev1.DeviceClassList{})
	d.TracksGeneration = true
	d.Strategy = deviceClassStrategy{}
	d.Table = printers.DeviceClass()
	return d
}

// DeviceTaintRules: cluster-scoped, with a status subresource.
func DeviceTaintRules() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(resourcev1.SchemeGroupVersion, "devicetaintrules", &resourcev1.DeviceTaintRule{}, &resourcev1.DeviceTaintRuleList{})
	d.TracksGeneration = true
	d.Strategy = deviceTaintRuleStrategy{}
	d.Subresources = []string{apiresource.Status}
	return d
}

// ResourceClaims: namespaced, with a status subresource (allocation and
// reservations, written by the scheduler and the kubelet).
func ResourceClaims() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(resourcev1.SchemeGroupVersion, "resourceclaims", &resourcev1.ResourceClaim{}, &resourcev1.ResourceClaimList{})
	d.Namespaced = true
	d.Strategy = resourceClaimStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.ResourceClaim()
	return d
}

// ResourceClaimTemplates: namespaced.
func ResourceClaimTemplates() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(resourcev1.SchemeGroupVersion, "resourceclaimtemplates", &resourcev1.ResourceClaimTemplate{}, &resourcev1.ResourceClaimTemplateList{})
	d.Namespaced = true
	d.Strategy = resourceClaimTemplateStrategy{}
	d.Table = printers.ResourceClaimTemplate()
	return d
}

// ResourceSlices: cluster-scoped, selectable by spec.nodeName and
// spec.driver (kubelets and drivers list their own).
func ResourceSlices() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(resourcev1.SchemeGroupVersion, "resourceslices", &resourcev1.ResourceSlice{}, &resourcev1.ResourceSliceList{})
	d.TracksGeneration = true
	d.Strategy = resourceSliceStrategy{}
	d.Table = printers.ResourceSlice()
	d.FieldLabels = []string{"spec.nodeName", "spec.driver"}
	d.Fields = func(obj runtime.Object) fields.Set {
		s := obj.(*resourcev1.ResourceSlice)
		return fields.Set{"spec.nodeName": ptr.Deref(s.Spec.NodeName, ""), "spec.driver": s.Spec.Driver}
	}
	return d
}
