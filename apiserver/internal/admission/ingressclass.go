package admission

import (
	"context"
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
)

// IngressClasses lists the cluster's IngressClasses.
type IngressClasses interface {
	List(ctx context.Context) ([]*networkingv1.IngressClass, error)
}

// DefaultIngressClass gives a new Ingress that names no class (neither
// spec.ingressClassName nor the legacy kubernetes.io/ingress.class
// annotation) the cluster's default IngressClass, as Kubernetes'
// DefaultIngressClass admission plugin does; so `kubectl get ingress`
// shows the class that serves it.
type DefaultIngressClass struct {
	Classes IngressClasses
}

// AdmitCreate implements genericstore.Admitter.
func (d *DefaultIngressClass) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok || ing.Spec.IngressClassName != nil {
		return nil
	}
	if _, ok := ing.Annotations[networkingv1beta1.AnnotationIngressClass]; ok {
		return nil
	}
	classes, err := d.Classes.List(ctx)
	if err != nil {
		return apierrors.NewForbidden(networkingv1.Resource("ingresses"), ing.Name, err)
	}
	if def := defaultIngressClass(classes); def != nil {
		ing.Spec.IngressClassName = &def.Name
	}
	return nil
}

// defaultIngressClass is the class marked default, or nil; of several,
// the newest, and of those created in the same instant the first by name,
// as upstream picks it.
func defaultIngressClass(classes []*networkingv1.IngressClass) *networkingv1.IngressClass {
	var defaults []*networkingv1.IngressClass
	for _, c := range classes {
		if c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			defaults = append(defaults, c)
		}
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		ti, tj := defaults[i].CreationTimestamp.UnixNano(), defaults[j].CreationTimestamp.UnixNano()
		if ti == tj {
			return defaults[i].Name < defaults[j].Name
		}
		return ti > tj
	})
	return defaults[0]
}
