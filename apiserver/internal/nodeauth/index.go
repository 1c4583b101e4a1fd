package nodeauth

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// PodIndex is a Pods kept from a watch of every pod: each pod by
// namespace/name and by spec.nodeName, so PodsOnNode costs one node's
// pods, not the cluster's. Whoever watches the pods calls Set for every
// added or modified pod and Delete for every deleted one; the index holds
// the objects it is given and never modifies them. It is safe for
// concurrent use.
type PodIndex struct {
	mu     sync.RWMutex // guards pods and byNode
	pods   map[podKey]*corev1.Pod
	byNode map[string]map[podKey]*corev1.Pod
}

type podKey struct{ namespace, name string }

var _ Pods = (*PodIndex)(nil)

// NewPodIndex returns an empty index.
func NewPodIndex() *PodIndex {
	return &PodIndex{pods: map[podKey]*corev1.Pod{}, byNode: map[string]map[podKey]*corev1.Pod{}}
}

// Set records pod as the current state of its namespace/name, moving it
// to its new node if its spec.nodeName changed.
func (x *PodIndex) Set(pod *corev1.Pod) {
	k := podKey{pod.Namespace, pod.Name}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(k)
	x.pods[k] = pod
	if pod.Spec.NodeName == "" {
		return
	}
	on := x.byNode[pod.Spec.NodeName]
	if on == nil {
		on = map[podKey]*corev1.Pod{}
		x.byNode[pod.Spec.NodeName] = on
	}
	on[k] = pod
}

// Delete forgets the pod namespace/name.
func (x *PodIndex) Delete(namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(podKey{namespace, name})
}

func (x *PodIndex) removeLocked(k podKey) {
	old, ok := x.pods[k]
	if !ok {
		return
	}
	delete(x.pods, k)
	if on := x.byNode[old.Spec.NodeName]; on != nil {
		delete(on, k)
		if len(on) == 0 {
			delete(x.byNode, old.Spec.NodeName)
		}
	}
}

// PodsOnNode implements Pods.
func (x *PodIndex) PodsOnNode(node string) ([]*corev1.Pod, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	on := x.byNode[node]
	out := make([]*corev1.Pod, 0, len(on))
	for _, p := range on {
		out = append(out, p)
	}
	return out, nil
}

// Pod implements Pods.
func (x *PodIndex) Pod(namespace, name string) (*corev1.Pod, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if p, ok := x.pods[podKey{namespace, name}]; ok {
		return p, nil
	}
	return nil, apierrors.NewNotFound(podResource, name)
}
