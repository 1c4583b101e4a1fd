// Package replication is the ReplicationController controller. A
// ReplicationController is a ReplicaSet with an equality selector, so it
// runs on the ReplicaSet controller's logic, as in Kubernetes: this
// package only converts ReplicationControllers to ReplicaSets on the way
// in and back on the way out. Pods get a ReplicationController (v1)
// controller reference, and events are recorded on the
// ReplicationController.
package replication

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/replicaset"
)

// Name is the controller's name.
const Name = "replicationcontroller-controller"

// New builds the controller.
func New(c controller.Context) (*replicaset.Controller, error) {
	return replicaset.NewFor(c, controllers{client: c.Client, informer: c.Informers.Core().V1().ReplicationControllers()})
}

// controllers are ReplicationControllers seen as ReplicaSets.
type controllers struct {
	client   kubernetes.Interface
	informer coreinformers.ReplicationControllerInformer
}

var _ replicaset.Owners = controllers{}

func (controllers) GVK() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("ReplicationController")
}

func (o controllers) Informer() cache.SharedIndexInformer { return o.informer.Informer() }

func (o controllers) Get(namespace, name string) (*appsv1.ReplicaSet, error) {
	rc, err := o.informer.Lister().ReplicationControllers(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	return ToReplicaSet(rc), nil
}

func (o controllers) List(namespace string) ([]*appsv1.ReplicaSet, error) {
	rcs, err := o.informer.Lister().ReplicationControllers(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ReplicaSet, len(rcs))
	for i, rc := range rcs {
		out[i] = ToReplicaSet(rc)
	}
	return out, nil
}

func (o controllers) Fetch(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	rc, err := o.client.CoreV1().ReplicationControllers(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return ToReplicaSet(rc), nil
}

func (o controllers) UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	rc, err := o.client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, FromReplicaSet(rs), metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return ToReplicaSet(rc), nil
}

func (controllers) Object(rs *appsv1.ReplicaSet) runtime.Object { return FromReplicaSet(rs) }
