// Package class decides which Ingresses this controller serves, as
// ingress-nginx does: an Ingress whose spec.ingressClassName names an
// IngressClass of this controller, an Ingress with the legacy
// kubernetes.io/ingress.class annotation naming this controller's class,
// and an Ingress with neither when one of this controller's IngressClasses
// is the cluster's default.
package class

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// LegacyAnnotation is the class of an Ingress before spec.ingressClassName
// existed; Kubernetes deprecated it, controllers still honour it.
const LegacyAnnotation = "kubernetes.io/ingress.class"

// Selector says which Ingresses are this controller's.
type Selector struct {
	// Controller is the spec.controller of this controller's
	// IngressClasses ("coracle.dev/ingress-controller").
	Controller string
	// ClassName is the class the legacy annotation must name ("coracle").
	ClassName string
}

// Served reports whether s's controller serves ing, given the cluster's
// IngressClasses.
func (s Selector) Served(ing *networkingv1.Ingress, classes []*networkingv1.IngressClass) bool {
	// The apiserver refuses an Ingress whose annotation and field
	// disagree, so the annotation, when present, decides alone.
	if v, ok := ing.Annotations[LegacyAnnotation]; ok {
		return v == s.ClassName
	}
	if name := ing.Spec.IngressClassName; name != nil {
		for _, c := range classes {
			if c.Name == *name {
				return c.Spec.Controller == s.Controller
			}
		}
		return false
	}
	return s.IsDefault(classes)
}

// IsDefault reports whether one of this controller's IngressClasses is
// marked the default class, so that Ingresses without a class are ours.
func (s Selector) IsDefault(classes []*networkingv1.IngressClass) bool {
	for _, c := range classes {
		if c.Spec.Controller == s.Controller && c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			return true
		}
	}
	return false
}
