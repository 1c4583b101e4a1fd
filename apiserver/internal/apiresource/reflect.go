package apiresource

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// The helpers below name fields as Go does ("Status"); on an unstructured
// object (a custom resource) they act on the JSON field ("status").

func jsonName(name string) string { return strings.ToLower(name[:1]) + name[1:] }

// HasField reports whether the kind's Go struct has a top-level field, e.g.
// "Spec" or "Status". Custom resources are taken to have both: whether
// status is a subresource is the descriptor's to say.
func HasField(obj runtime.Object, name string) bool {
	if _, ok := obj.(*unstructured.Unstructured); ok {
		return true
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	return v.Elem().FieldByName(name).IsValid()
}

// CopyField sets dst's top-level field name to a deep copy of src's; both
// must be the same kind. It does nothing if the kind has no such field.
func CopyField(dst, src runtime.Object, name string) {
	if du, ok := dst.(*unstructured.Unstructured); ok {
		su := src.(*unstructured.Unstructured)
		if v, ok := su.Object[jsonName(name)]; ok {
			du.Object[jsonName(name)] = runtime.DeepCopyJSONValue(v)
		} else {
			delete(du.Object, jsonName(name))
		}
		return
	}
	dv := reflect.ValueOf(dst).Elem().FieldByName(name)
	if !dv.IsValid() {
		return
	}
	fresh := reflect.ValueOf(src.DeepCopyObject()).Elem().FieldByName(name)
	dv.Set(fresh)
}

// ResetField sets obj's top-level field name to its zero value.
func ResetField(obj runtime.Object, name string) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		delete(u.Object, jsonName(name))
		return
	}
	v := reflect.ValueOf(obj).Elem().FieldByName(name)
	if v.IsValid() {
		v.Set(reflect.Zero(v.Type()))
	}
}

// FieldEqual reports whether a and b hold equal top-level fields name.
func FieldEqual(a, b runtime.Object, name string) bool {
	if au, ok := a.(*unstructured.Unstructured); ok {
		bu := b.(*unstructured.Unstructured)
		return semanticEqual(au.Object[jsonName(name)], bu.Object[jsonName(name)])
	}
	av := reflect.ValueOf(a).Elem().FieldByName(name)
	bv := reflect.ValueOf(b).Elem().FieldByName(name)
	if !av.IsValid() || !bv.IsValid() {
		return true
	}
	return semanticEqual(av.Interface(), bv.Interface())
}
