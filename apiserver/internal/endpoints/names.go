package endpoints

import (
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// apivalidationNamespace checks a namespace in a URL is a DNS label.
func apivalidationNamespace(ns string) []string {
	return validation.IsDNS1123Label(ns)
}

func fieldErrors(path, value, detail string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, detail)}
}
