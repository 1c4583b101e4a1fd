package genericstore

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/watchcache"
)

// NamespaceLifecycle refuses creates in missing or terminating namespaces,
// as Kubernetes' NamespaceLifecycle admission does. It reads the namespaces'
// watch cache and falls back to storage when the cache has not seen a
// namespace yet.
type NamespaceLifecycle struct {
	Namespaces *Store
}

var _ NamespaceChecker = &NamespaceLifecycle{}

// freshWait bounds how long a create waits for the namespaces' cache to
// catch up with this apiserver's own writes before it reads storage.
const freshWait = time.Second

// CheckCreate implements NamespaceChecker.
func (l *NamespaceLifecycle) CheckCreate(ctx context.Context, namespace string) error {
	ns := l.lookupCached(ctx, namespace)
	if ns == nil {
		obj, err := l.Namespaces.Get(ctx, "", namespace)
		if err != nil {
			return err
		}
		ns = obj.(*corev1.Namespace)
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		err := apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, namespace,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", namespace),
			Field:   "metadata.namespace",
		})
		return err
	}
	return nil
}

func (l *NamespaceLifecycle) lookupCached(ctx context.Context, name string) *corev1.Namespace {
	c := l.Namespaces.Cache()
	if c == nil || !c.Ready() {
		return nil
	}
	// A namespace this apiserver has just deleted must not look Active
	// to the next create: wait, briefly, for the cache to show this
	// apiserver's own namespace writes; storage answers if it lags.
	if rev := l.Namespaces.LastWrite(); rev > c.Revision() {
		if err := c.WaitForRevision(ctx, rev, freshWait); err != nil {
			return nil
		}
	}
	items, _ := c.List(watchcache.Predicate{Field: fields.OneTermEqualSelector("metadata.name", name)})
	if len(items) != 1 {
		return nil
	}
	return items[0].(*corev1.Namespace)
}
