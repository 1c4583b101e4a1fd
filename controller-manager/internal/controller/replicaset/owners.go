package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Owners is where the controller's objects come from and where their
// status goes. The controller's logic works on ReplicaSets; another kind
// run with the same logic (ReplicationControllers, see package
// replication) converts its objects to and from ReplicaSets here.
type Owners interface {
	// GVK is the owners' kind: pods' controller references name it.
	GVK() schema.GroupVersionKind
	// Informer is the owners' shared informer.
	Informer() cache.SharedIndexInformer
	// Get returns namespace/name from the informer's cache, or a NotFound
	// error. The result may share memory with the cache: do not mutate it.
	Get(namespace, name string) (*appsv1.ReplicaSet, error)
	// List returns the owners of namespace from the informer's cache; do
	// not mutate them either.
	List(namespace string) ([]*appsv1.ReplicaSet, error)
	// Fetch reads namespace/name from the apiserver, not the cache.
	Fetch(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error)
	// UpdateStatus writes rs.Status through the status subresource,
	// guarded by rs's resourceVersion, and returns the stored object.
	UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
	// Object returns rs as the API object it stands for: events about
	// its pods are recorded on that.
	Object(rs *appsv1.ReplicaSet) runtime.Object
}

// replicaSets are the Owners of the ReplicaSet controller: ReplicaSets
// themselves.
type replicaSets struct {
	client   kubernetes.Interface
	informer appsinformers.ReplicaSetInformer
}

var _ Owners = replicaSets{}

func (replicaSets) GVK() schema.GroupVersionKind {
	return appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
}

func (o replicaSets) Informer() cache.SharedIndexInformer { return o.informer.Informer() }

func (o replicaSets) Get(namespace, name string) (*appsv1.ReplicaSet, error) {
	return o.informer.Lister().ReplicaSets(namespace).Get(name)
}

func (o replicaSets) List(namespace string) ([]*appsv1.ReplicaSet, error) {
	return o.informer.Lister().ReplicaSets(namespace).List(labels.Everything())
}

func (o replicaSets) Fetch(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	return o.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (o replicaSets) UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	return o.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
}

func (replicaSets) Object(rs *appsv1.ReplicaSet) runtime.Object { return rs }
