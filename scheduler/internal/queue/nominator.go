package queue

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/scheduler/internal/framework"
)

// Nominator remembers which pods preemption promised which node, from the
// moment preemption decides (before the pod's status.nominatedNodeName is
// written) until the pod is bound or deleted.
type Nominator struct {
	mu     sync.RWMutex // guards byNode and byPod
	byNode map[string][]*framework.PodInfo
	byPod  map[types.UID]string
	// count mirrors len(byPod) for Empty, which the filters call per node.
	count atomic.Int64
}

// Empty implements framework.PodNominator.
func (n *Nominator) Empty() bool { return n.count.Load() == 0 }

var _ framework.PodNominator = &Nominator{}

// NewNominator returns an empty nominator.
func NewNominator() *Nominator {
	return &Nominator{byNode: map[string][]*framework.PodInfo{}, byPod: map[types.UID]string{}}
}

// Add nominates pi to node; "" means the node in its status, if any.
func (n *Nominator) Add(pi *framework.PodInfo, node string) {
	if node == "" {
		node = pi.Pod.Status.NominatedNodeName
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleteLocked(pi.Pod)
	if node == "" {
		return
	}
	n.byPod[pi.Pod.UID] = node
	n.byNode[node] = append(n.byNode[node], pi)
	n.count.Store(int64(len(n.byPod)))
}

// Delete removes pod's nomination.
func (n *Nominator) Delete(pod *v1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleteLocked(pod)
}

func (n *Nominator) deleteLocked(pod *v1.Pod) {
	node, ok := n.byPod[pod.UID]
	if !ok {
		return
	}
	delete(n.byPod, pod.UID)
	n.count.Store(int64(len(n.byPod)))
	list := n.byNode[node]
	for i, p := range list {
		if p.Pod.UID == pod.UID {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(n.byNode, node)
	} else {
		n.byNode[node] = list
	}
}

// NominatedPodsForNode implements framework.PodNominator; the slice is a
// copy.
func (n *Nominator) NominatedPodsForNode(node string) []*framework.PodInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	list := n.byNode[node]
	if len(list) == 0 {
		return nil
	}
	return append([]*framework.PodInfo(nil), list...)
}

// NominatedNode is the node pod is nominated to, or "".
func (n *Nominator) NominatedNode(pod *v1.Pod) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.byPod[pod.UID]
}
