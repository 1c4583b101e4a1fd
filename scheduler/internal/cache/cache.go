// Package cache is the scheduler's view of where pods run: a NodeInfo per
// node counting every pod bound to it and every pod the scheduler has
// chosen it for but whose binding the API has not yet confirmed (an
// assumed pod). Counting a pod from the moment it is chosen is what keeps
// concurrent bindings from over-committing a node.
//
// An assumed pod's life:
//
//	AssumePod ──► binding in flight ──FinishBinding──► awaiting the informer
//	    │                 │                                  │
//	    │            ForgetPod (bind failed)        AddPod (informer confirms):
//	    │                 ▼                          now an ordinary bound pod
//	    │              gone                                  │
//	    └────────────── expires TTL after FinishBinding if never confirmed
//
// The cache is safe for concurrent use: informer handlers, the scheduling
// goroutine and binding goroutines all call it.
package cache

import (
	"fmt"
	"maps"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"coracle.dev/scheduler/internal/framework"
)

// Cache holds NodeInfos and the pods counted on them.
type Cache struct {
	ttl   time.Duration
	clock clock.Clock

	mu    sync.RWMutex // guards everything below
	nodes map[string]*framework.NodeInfo
	pods  map[types.UID]*podState
	// dirty names the nodes changed since the last UpdateSnapshot.
	dirty map[string]struct{}
}

type podState struct {
	info *framework.PodInfo
	// assumed pods are counted before the API confirms them.
	assumed bool
	// bindingFinished is set once the binding call succeeded; deadline is
	// then when an unconfirmed assumed pod expires.
	bindingFinished bool
	deadline        time.Time
}

// New returns an empty cache. Assumed pods whose binding succeeded but
// which the informer never confirms are dropped ttl later (0: never).
func New(ttl time.Duration, clk clock.Clock) *Cache {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Cache{ttl: ttl, clock: clk, nodes: map[string]*framework.NodeInfo{}, pods: map[types.UID]*podState{}, dirty: map[string]struct{}{}}
}

func (c *Cache) nodeInfo(name string) *framework.NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		ni = framework.NewNodeInfo()
		c.nodes[name] = ni
	}
	c.dirty[name] = struct{}{}
	return ni
}

// AddNode records a new node.
func (c *Cache) AddNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeInfo(node.Name).SetNode(node)
}

// UpdateNode records a node's new state.
func (c *Cache) UpdateNode(node *v1.Node) { c.AddNode(node) }

// RemoveNode forgets a node. Its pods stay counted (on a NodeInfo with no
// node, which snapshots leave out) until their own deletion is seen.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	ni.RemoveNode()
	c.dirty[name] = struct{}{}
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
	}
}

// AssumePod counts pod (whose spec.nodeName is the chosen node) on its
// node before the binding is confirmed.
func (c *Cache) AssumePod(pi *framework.PodInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pod := pi.Pod
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("assume pod %s: already in the cache", framework.PodKey(pod))
	}
	c.nodeInfo(pod.Spec.NodeName).AddPodInfo(pi)
	c.pods[pod.UID] = &podState{info: pi, assumed: true}
	return nil
}

// FinishBinding records that the binding call for an assumed pod
// succeeded; the expiry clock starts.
func (c *Cache) FinishBinding(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		ps.bindingFinished = true
		ps.deadline = c.clock.Now().Add(c.ttl)
	}
}

// ForgetPod un-assumes a pod whose binding failed.
func (c *Cache) ForgetPod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !ok || !ps.assumed {
		return fmt.Errorf("forget pod %s: not assumed", framework.PodKey(pod))
	}
	return c.removePodLocked(ps.info.Pod)
}

// IsAssumed reports whether pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(pod *v1.Pod) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ps, ok := c.pods[pod.UID]
	return ok && ps.assumed
}

// AddPod records a pod the informer reports bound. An assumed pod is
// confirmed (and moved, should it have been bound elsewhere).
func (c *Cache) AddPod(pod *v1.Pod) {
	pi := framework.NewPodInfo(pod) // outside the lock: it parses selectors
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok {
		// Confirmation of an assumed pod, or a repeated add: count the
		// informer's version of the pod from now on.
		_ = c.removePodLocked(ps.info.Pod)
	}
	c.addPodLocked(pi)
}

// UpdatePod records a bound pod's new state.
func (c *Cache) UpdatePod(old, cur *v1.Pod) {
	c.AddPod(cur)
}

// RemovePod stops counting a pod (deleted, or finished).
func (c *Cache) RemovePod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !ok {
		return
	}
	_ = c.removePodLocked(ps.info.Pod)
}

func (c *Cache) addPodLocked(pi *framework.PodInfo) {
	c.nodeInfo(pi.Pod.Spec.NodeName).AddPodInfo(pi)
	c.pods[pi.Pod.UID] = &podState{info: pi}
}

func (c *Cache) removePodLocked(pod *v1.Pod) error {
	delete(c.pods, pod.UID)
	ni, ok := c.nodes[pod.Spec.NodeName]
	if !ok {
		return fmt.Errorf("remove pod %s: node %s not in the cache", framework.PodKey(pod), pod.Spec.NodeName)
	}
	c.dirty[pod.Spec.NodeName] = struct{}{}
	err := ni.RemovePod(pod)
	if len(ni.Pods) == 0 && ni.Node() == nil {
		delete(c.nodes, pod.Spec.NodeName)
	}
	return err
}

// CleanupExpired drops assumed pods whose binding succeeded more than the
// TTL ago and that the informer never confirmed; it returns them.
func (c *Cache) CleanupExpired() []*v1.Pod {
	if c.ttl <= 0 {
		return nil
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*v1.Pod
	for _, ps := range c.pods {
		if ps.assumed && ps.bindingFinished && now.After(ps.deadline) {
			out = append(out, ps.info.Pod)
		}
	}
	for _, p := range out {
		_ = c.removePodLocked(p)
	}
	return out
}

// UpdateSnapshot brings snap up to date with the cache, cloning only the
// nodes that changed since the previous call. snap must only ever be
// updated from this cache.
func (c *Cache) UpdateSnapshot(snap *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirty) == 0 {
		return
	}
	rebuild, rebuildAffinity := false, false
	for name := range c.dirty {
		live := c.nodes[name]
		old := snap.nodeInfoMap[name]
		if old != nil {
			snap.addImages(old, -1)
			snap.index.removeNode(old)
		}
		if live == nil || live.Node() == nil {
			if old != nil {
				delete(snap.nodeInfoMap, name)
				rebuild = true
			}
			continue
		}
		clone := live.Clone()
		snap.addImages(clone, 1)
		if old == nil {
			snap.nodeInfoMap[name] = clone
			snap.index.addNode(clone)
			rebuild = true
			continue
		}
		if !maps.Equal(old.Labels, clone.Labels) {
			rebuild = true // zone order and the label index
		}
		if (len(old.PodsWithAffinity) > 0) != (len(clone.PodsWithAffinity) > 0) ||
			(len(old.PodsWithRequiredAntiAffinity) > 0) != (len(clone.PodsWithRequiredAntiAffinity) > 0) {
			rebuildAffinity = true
		}
		// In place, so the lists and the index that point at old stay
		// valid.
		*old = *clone
		snap.index.addNode(old)
	}
	clear(c.dirty)
	switch {
	case rebuild:
		snap.rebuildLists()
	case rebuildAffinity:
		snap.rebuildAffinityLists()
	}
}

// NodeCount and PodCount are for metrics and tests.
func (c *Cache) NodeCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, ni := range c.nodes {
		if ni.Node() != nil {
			n++
		}
	}
	return n
}

// PodCount counts bound and assumed pods.
func (c *Cache) PodCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pods)
}

// Dump returns clones of every NodeInfo, for tests and debugging.
func (c *Cache) Dump() map[string]*framework.NodeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]*framework.NodeInfo, len(c.nodes))
	for k, v := range c.nodes {
		out[k] = v.Clone()
	}
	return out
}
