package controller

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// podOwnerIndex indexes the shared pod informer by the UID of each pod's
// controller; pods with no controller are indexed as orphans of their
// namespace.
const podOwnerIndex = "coracle.dev/controller-uid"

func orphanKey(namespace string) string { return "orphan/" + namespace }

func indexPodOwner(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanKey(p.Namespace)}, nil
}

// OwnedPods finds, in the shared pod informer, the pods a controller
// object controls and the orphans it may adopt: what claiming needs,
// without listing every pod of the namespace (which makes scaling up a
// ReplicaSet of N pods cost N² as it would otherwise).
type OwnedPods struct {
	indexer cache.Indexer
}

// OwnedPods adds the owner index to the shared pod informer (once; before
// the informers start) and returns the look-up.
func (c Context) OwnedPods() (OwnedPods, error) {
	inf := c.Informers.Core().V1().Pods().Informer()
	if _, ok := inf.GetIndexer().GetIndexers()[podOwnerIndex]; !ok {
		if err := inf.AddIndexers(cache.Indexers{podOwnerIndex: indexPodOwner}); err != nil {
			return OwnedPods{}, err
		}
	}
	return OwnedPods{indexer: inf.GetIndexer()}, nil
}

// List returns the pods of namespace that owner controls, then the
// namespace's pods that no controller owns.
func (o OwnedPods) List(namespace string, owner types.UID) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, key := range []string{string(owner), orphanKey(namespace)} {
		objs, err := o.indexer.ByIndex(podOwnerIndex, key)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			if p, ok := obj.(*corev1.Pod); ok && p.Namespace == namespace {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
