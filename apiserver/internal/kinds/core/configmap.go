package core

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// configMapStrategy: keys are file-name-like, the whole is at most 1 MiB,
// and an immutable ConfigMap keeps its data for good.
type configMapStrategy struct{ apiresource.DefaultStrategy }

func (configMapStrategy) Validate(obj runtime.Object) field.ErrorList {
	cm := obj.(*corev1.ConfigMap)
	var errs field.ErrorList
	size := 0
	for _, key := range sortedKeys(cm.Data) {
		p := field.NewPath("data").Key(key)
		errs = append(errs, invalids(p, key, validation.IsConfigMapKey(key))...)
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(p, key, "duplicate of key present in binaryData"))
		}
		size += len(cm.Data[key])
	}
	for _, key := range sortedKeys(cm.BinaryData) {
		errs = append(errs, invalids(field.NewPath("binaryData").Key(key), key, validation.IsConfigMapKey(key))...)
		size += len(cm.BinaryData[key])
	}
	if size > corev1.MaxSecretSize {
		// The empty path names the whole object.
		errs = append(errs, field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize))
	}
	return errs
}

func (s configMapStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	cm, oldCM := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
	errs := validateImmutableData(cm.Immutable, oldCM.Immutable, map[string]bool{
		"data":       sameMap(cm.Data, oldCM.Data),
		"binaryData": sameMap(cm.BinaryData, oldCM.BinaryData),
	})
	return append(errs, s.Validate(obj)...)
}

// validateImmutableData refuses, once immutable is true, unsetting it or
// changing any of the data fields (named with whether they are unchanged).
func validateImmutableData(immutable, wasImmutable *bool, unchanged map[string]bool) field.ErrorList {
	if wasImmutable == nil || !*wasImmutable {
		return nil
	}
	const msg = "field is immutable when `immutable` is set"
	var errs field.ErrorList
	if immutable == nil || !*immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), msg))
	}
	for _, name := range sortedKeys(unchanged) {
		if !unchanged[name] {
			errs = append(errs, field.Forbidden(field.NewPath(name), msg))
		}
	}
	return errs
}

// sameMap compares data maps, an empty map equal to none.
func sameMap[V any](a, b map[string]V) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
