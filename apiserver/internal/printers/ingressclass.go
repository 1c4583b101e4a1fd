package printers

import (
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// IngressClass columns: Name (marked "(default)" for the default class),
// Controller, Parameters, Age.
func IngressClass() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Controller", "string", "Controller that is responsible for handling this class"),
		column("Parameters", "string", "A reference to a resource with additional parameters"),
		ageColumn(),
	}, ingressClassCells)
}

func ingressClassCells(ic *networkingv1.IngressClass, now time.Time) []interface{} {
	name := ic.Name
	if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
		name += " (default)"
	}
	parameters := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		parameters = p.Kind
		if p.APIGroup != nil {
			parameters += "." + *p.APIGroup
		}
		parameters += "/" + p.Name
	}
	return []interface{}{name, ic.Spec.Controller, parameters, since(ic.CreationTimestamp, now)}
}
