// Package serviceaccount is the service account controller: every active
// namespace has a ServiceAccount named "default", re-created if deleted.
package serviceaccount

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/reconcile"
)

// Name is the controller's name.
const Name = "serviceaccount-controller"

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller ensures the default ServiceAccounts.
type Controller struct {
	client   kubernetes.Interface
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	queue    *reconcile.Queue[string]
	log      *zap.Logger
	workers  int
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	nsInf := c.Informers.Core().V1().Namespaces()
	saInf := c.Informers.Core().V1().ServiceAccounts()
	ctl := &Controller{
		client: c.Client, nsLister: nsInf.Lister(), saLister: saInf.Lister(),
		synced: []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced},
		queue:  c.NewQueue(), log: c.Log, workers: c.Workers,
	}
	if _, err := nsInf.Informer().AddEventHandler(reconcile.Handlers(ctl.queue)); err != nil {
		return nil, err
	}
	// A deleted default ServiceAccount is put back.
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if key, ok := reconcile.KeyFunc(obj); ok {
				ns, name, _ := cache.SplitMetaNamespaceKey(key)
				if name == DefaultName {
					ctl.queue.Add(ns)
				}
			}
		},
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

// Run implements controller.Runner.
func (c *Controller) Run(ctx context.Context) {
	if !reconcile.WaitForSync(ctx, c.synced...) {
		return
	}
	c.queue.Run(ctx, c.workers, c.sync)
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
