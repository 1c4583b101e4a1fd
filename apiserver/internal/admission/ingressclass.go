package admission

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	isDefault := func(c *networkingv1.IngressClass) bool {
		return c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
	}
	if def := NewestDefault(classes, isDefault); def != nil {
		ing.Spec.IngressClassName = &def.Name
	}
	return nil
}

// NewestDefault is, of items, the newest of those isDefault marks, and of
// those created in the same instant the first by name, as Kubernetes'
// admission plugins pick the default IngressClass and StorageClass: a new
// default takes over from an old one without a gap. It is nil when none
// is marked.
func NewestDefault[T metav1.Object](items []T, isDefault func(T) bool) T {
	var best T
	found := false
	for _, it := range items {
		if !isDefault(it) {
			continue
		}
		if !found {
			best, found = it, true
			continue
		}
		ti, tb := it.GetCreationTimestamp().UnixNano(), best.GetCreationTimestamp().UnixNano()
		if ti > tb || (ti == tb && it.GetName() < best.GetName()) {
			best = it
		}
	}
	return best
}
