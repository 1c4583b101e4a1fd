package pvcprotection

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/storage/ephemeral"
)

// podClaimIndex indexes the shared pod informer by the claims each pod's
// volumes name (Kubernetes' pod-pvc-index).
const podClaimIndex = "pod-pvc-index"

// PodIndex finds the pods whose volumes name a claim, in the shared pod
// informer, without listing every pod of the namespace.
type PodIndex struct {
	indexer cache.Indexer
}

// NewPodIndex adds the index to the shared pod informer inf (once, and
// before the informers start) and returns the look-up.
func NewPodIndex(inf cache.SharedIndexInformer) (PodIndex, error) {
	if _, ok := inf.GetIndexer().GetIndexers()[podClaimIndex]; !ok {
		if err := inf.AddIndexers(cache.Indexers{podClaimIndex: indexPodClaims}); err != nil {
			return PodIndex{}, err
		}
	}
	return PodIndex{indexer: inf.GetIndexer()}, nil
}

// ClaimNames are the names of the claims pod's volumes use: those named
// by persistentVolumeClaim volumes and those made for its generic
// ephemeral volumes (<pod>-<volume>).
func ClaimNames(pod *corev1.Pod) []string {
	var names []string
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		switch {
		case v.PersistentVolumeClaim != nil:
			names = append(names, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			names = append(names, ephemeral.VolumeClaimName(pod, v))
		}
	}
	return names
}

func indexPodClaims(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var keys []string
	for _, name := range ClaimNames(pod) {
		keys = append(keys, pod.Namespace+"/"+name)
	}
	return keys, nil
}

// Using returns the pods whose volumes name the claim namespace/name.
func (x PodIndex) Using(namespace, name string) ([]*corev1.Pod, error) {
	objs, err := x.indexer.ByIndex(podClaimIndex, namespace+"/"+name)
	if err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, obj := range objs {
		if p, ok := obj.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods, nil
}
