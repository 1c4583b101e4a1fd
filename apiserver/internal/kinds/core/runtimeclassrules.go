package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateTolerations checks tolerations as a pod's are checked; node.k8s.io
// RuntimeClasses add them to the pods that use the class.
func ValidateTolerations(tolerations []corev1.Toleration, path *field.Path) field.ErrorList {
	return validateTolerations(tolerations, path)
}

// ValidateResourceRequirements checks requests and limits as a
// container's are checked; a RuntimeClass's overhead is checked as limits.
func ValidateResourceRequirements(r *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	return validateResources(r, path)
}
