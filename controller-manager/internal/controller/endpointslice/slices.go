package endpointslice

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	discoveryclient "k8s.io/client-go/kubernetes/typed/discovery/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/expectations"
)

// Slices are the EndpointSlices one controller writes, told apart by
// their managed-by label: this controller's and the mirroring
// controller's. Besides the cache's view of them, they remember the
// slices a sync created that the cache does not show yet: until it
// does, another sync would create them again.
type Slices struct {
	managedBy string
	lister    discoverylisters.EndpointSliceLister
	expect    *expectations.Expectations
}

// WatchSlices returns the slices labelled managed-by managedBy and has b
// queue, on every event of one of them, the key of its Service. (A slice
// without a Service name queues a key whose sync finds no Service.)
func WatchSlices(c controller.Context, b *controller.Base, managedBy string) (*Slices, error) {
	inf := c.Informers.Discovery().V1().EndpointSlices()
	s := &Slices{managedBy: managedBy, lister: inf.Lister(), expect: expectations.New(nil)}
	serviceKey := func(slice *discoveryv1.EndpointSlice) (string, bool) {
		return slice.Namespace + "/" + slice.Labels[discoveryv1.LabelServiceName], slice.Labels[discoveryv1.LabelManagedBy] == managedBy
	}
	onSlice := func(slice *discoveryv1.EndpointSlice) {
		if key, ok := serviceKey(slice); ok {
			b.Enqueue(key)
		}
	}
	return s, b.Watch(inf.Informer(), controller.Handlers[*discoveryv1.EndpointSlice]{
		Add: func(slice *discoveryv1.EndpointSlice) {
			if key, ok := serviceKey(slice); ok {
				s.expect.CreationObserved(key)
				b.Enqueue(key)
			}
		},
		Update: func(_, slice *discoveryv1.EndpointSlice) { onSlice(slice) },
		Delete: onSlice,
	})
}

// Pending reports whether slices a sync of the Service key created are
// not in the cache yet; their arrival queues the key again.
func (s *Slices) Pending(key string) bool { return !s.expect.Satisfied(key) }

// Of are the slices of the Service namespace/service, from the cache.
func (s *Slices) Of(namespace, service string) ([]*discoveryv1.EndpointSlice, error) {
	return s.lister.EndpointSlices(namespace).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: s.managedBy,
	}))
}

// Expect records that a sync of the Service key is about to create n
// slices: every creation of the sync, counted before the first is made.
func (s *Slices) Expect(key string, n int) { s.expect.Expect(key, n, nil) }

// Apply writes plan against existing (the slices of svc of address type
// at it was made from): slices with a new group or labels other than
// want are updated, groups left over get new slices owned by svc, and
// the slices the plan drops are deleted. A creation refused because the
// namespace is terminating is not an error.
func (s *Slices) Apply(ctx context.Context, client discoveryclient.EndpointSliceInterface, svc *corev1.Service, at discoveryv1.AddressType,
	existing []*discoveryv1.EndpointSlice, plan Plan, want map[string]string) error {
	var errs []error
	for _, slice := range existing {
		g, update := plan.Update[slice.Name]
		if !update && labels.Equals(slice.Labels, want) {
			continue
		}
		next := slice.DeepCopy()
		next.Labels = want
		if update {
			next.Endpoints, next.Ports = g.Endpoints, g.Ports
		}
		if _, err := client.Update(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update endpointslice %s/%s: %w", slice.Namespace, slice.Name, err))
		}
	}
	owner := *metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
	for _, g := range plan.Create {
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: svc.Name + "-", Namespace: svc.Namespace, Labels: want,
				OwnerReferences: []metav1.OwnerReference{owner},
			},
			AddressType: at, Endpoints: g.Endpoints, Ports: g.Ports,
		}
		if _, err := client.Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			// The cache will never show it.
			s.expect.CreationObserved(controller.Key(svc))
			if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				errs = append(errs, fmt.Errorf("create endpointslice %s/%s*: %w", slice.Namespace, slice.GenerateName, err))
			}
		}
	}
	for _, n := range plan.Delete {
		if err := client.Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete endpointslice %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
