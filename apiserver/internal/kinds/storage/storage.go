// Package storage defines the storage.k8s.io/v1 kinds: StorageClasses and
// VolumeAttributesClasses, and what CSI drivers and their sidecars
// record: CSIDrivers, CSINodes, VolumeAttachments, CSIStorageCapacities.
package storage

import (
	storagev1 "k8s.io/api/storage/v1"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the storage.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{
		StorageClasses(), VolumeAttributesClasses(), CSIDrivers(), CSINodes(), VolumeAttachments(), CSIStorageCapacities(),
	}
}

// StorageClasses: cluster-scoped.
func StorageClasses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(storagev1.SchemeGroupVersion, "storageclasses", &storagev1.StorageClass{}, &storagev1.StorageClassList{})
	d.ShortNames = []string{"sc"}
	d.Strategy = storageClassStrategy{}
	d.Table = printers.StorageClass()
	return d
}
