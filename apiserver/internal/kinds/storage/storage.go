// Package storage defines storage.k8s.io/v1 StorageClasses.
package storage

import (
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the storage.k8s.io/v1 kinds.
func All() []*resource.Descriptor { return []*resource.Descriptor{StorageClasses()} }

// StorageClasses: cluster-scoped.
func StorageClasses() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass", Resource: "storageclasses", Singular: "storageclass",
		ShortNames: []string{"sc"},
		New:        func() runtime.Object { return &storagev1.StorageClass{} },
		NewList:    func() runtime.Object { return &storagev1.StorageClassList{} },
		Strategy:   storageClassStrategy{},
		Table:      printers.StorageClass(),
	}
}
