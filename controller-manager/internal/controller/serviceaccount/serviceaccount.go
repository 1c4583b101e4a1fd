// Package serviceaccount is the service account controller: every active
// namespace has a ServiceAccount named "default", re-created if deleted.
package serviceaccount

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "serviceaccount-controller"

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller ensures the default ServiceAccounts.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	nsInf := c.Informers.Core().V1().Namespaces()
	saInf := c.Informers.Core().V1().ServiceAccounts()
	ctl := &Controller{client: c.Client, nsLister: nsInf.Lister(), saLister: saInf.Lister()}
	ctl.Base = controller.NewBase(c, ctl.sync)
	return ctl, errors.Join(
		ctl.Watch(nsInf.Informer(), ctl.Objects()),
		// A deleted default ServiceAccount is put back.
		ctl.Watch(saInf.Informer(), controller.Handlers[*corev1.ServiceAccount]{Delete: func(sa *corev1.ServiceAccount) {
			if sa.Name == DefaultName {
				ctl.Enqueue(sa.Namespace)
			}
		}}),
	)
}

func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.nsLister.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	if _, err := c.saLister.ServiceAccounts(namespace).Get(DefaultName); err == nil {
		return nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: namespace}}
	_, err = c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	return fmt.Errorf("create service account %s/%s: %w", namespace, DefaultName, err)
}
