package genericstore

import "k8s.io/apimachinery/pkg/util/validation/field"

func fieldErr(path, value, detail string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, detail)}
}
