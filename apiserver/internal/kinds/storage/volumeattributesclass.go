package storage

import (
	"strings"

	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// VolumeAttributesClasses: cluster-scoped sets of volume attributes
// (IOPS, throughput) a claim may ask its driver for, and change to.
func VolumeAttributesClasses() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(storagev1.SchemeGroupVersion, "volumeattributesclasses", &storagev1.VolumeAttributesClass{}, &storagev1.VolumeAttributesClassList{})
	d.ShortNames = []string{"vac"}
	d.Strategy = volumeAttributesClassStrategy{}
	d.Table = printers.VolumeAttributesClass()
	return d
}

// volumeAttributesClassStrategy validates VolumeAttributesClasses as
// Kubernetes' pkg/apis/storage/validation does: a driver and at least one
// parameter, both fixed once made, since volumes were set up with them.
type volumeAttributesClassStrategy struct{ apiresource.DefaultStrategy }

func (volumeAttributesClassStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateVolumeAttributesClass(obj.(*storagev1.VolumeAttributesClass))
}

func (volumeAttributesClassStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	c, was := obj.(*storagev1.VolumeAttributesClass), old.(*storagev1.VolumeAttributesClass)
	var errs field.ErrorList
	if c.DriverName != was.DriverName {
		errs = append(errs, field.Forbidden(field.NewPath("driverName"), "updates to driverName are forbidden."))
	}
	if !apiequality.Semantic.DeepEqual(c.Parameters, was.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	return append(errs, validateVolumeAttributesClass(c)...)
}

func validateVolumeAttributesClass(c *storagev1.VolumeAttributesClass) field.ErrorList {
	var errs field.ErrorList
	dpath := field.NewPath("driverName")
	if c.DriverName == "" {
		errs = append(errs, field.Required(dpath, ""))
	} else {
		for _, msg := range content.IsLabelKey(strings.ToLower(c.DriverName)) {
			errs = append(errs, field.Invalid(dpath, c.DriverName, msg))
		}
	}
	ppath := field.NewPath("parameters")
	errs = append(errs, validateParameters(c.Parameters, ppath)...)
	if len(c.Parameters) == 0 {
		errs = append(errs, field.Required(ppath, "must contain at least one key/value pair"))
	}
	return errs
}
