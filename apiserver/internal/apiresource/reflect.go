package apiresource

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
)

// HasField reports whether the kind's Go struct has a top-level field, e.g.
// "Spec" or "Status".
func HasField(obj runtime.Object, name string) bool {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	return v.Elem().FieldByName(name).IsValid()
}

// CopyField sets dst's top-level field name to a deep copy of src's; both
// must be the same kind. It does nothing if the kind has no such field.
func CopyField(dst, src runtime.Object, name string) {
	dv := reflect.ValueOf(dst).Elem().FieldByName(name)
	if !dv.IsValid() {
		return
	}
	fresh := reflect.ValueOf(src.DeepCopyObject()).Elem().FieldByName(name)
	dv.Set(fresh)
}

// ResetField sets obj's top-level field name to its zero value.
func ResetField(obj runtime.Object, name string) {
	v := reflect.ValueOf(obj).Elem().FieldByName(name)
	if v.IsValid() {
		v.Set(reflect.Zero(v.Type()))
	}
}

// FieldEqual reports whether a and b hold equal top-level fields name.
func FieldEqual(a, b runtime.Object, name string) bool {
	av := reflect.ValueOf(a).Elem().FieldByName(name)
	bv := reflect.ValueOf(b).Elem().FieldByName(name)
	if !av.IsValid() || !bv.IsValid() {
		return true
	}
	return semanticEqual(av.Interface(), bv.Interface())
}
