package framework

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Taints the scheduler reads from a node's Ready condition when the node
// does not already carry them, so that a node that stopped reporting is
// avoided even before a node lifecycle controller taints it. They are the
// keys Kubernetes' node lifecycle controller uses.
const (
	TaintNodeNotReady      = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable   = "node.kubernetes.io/unreachable"
	TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"
)

// NodeInfo is a node and the pods the scheduler counts on it: bound pods,
// and pods it has chosen the node for whose binding is not yet confirmed
// (assumed pods). The cache owns live NodeInfos; each scheduling cycle
// reads clones of them (a snapshot), so plugins never see one change.
type NodeInfo struct {
	node *v1.Node
	// Name, Labels and Unschedulable are copied from the node: filters
	// read them for thousands of nodes per pod, and one pointer less to
	// chase per node shows.
	Name          string
	Labels        map[string]string
	Unschedulable bool

	Pods []*PodInfo
	// PodsWithAffinity have a term that weighs on other pods' scores
	// (PodInfo.HasScoringAffinity); PodsWithRequiredAntiAffinity have a
	// required anti-affinity term, which can keep other pods away.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo

	// UsedPorts are the host ports the pods hold.
	UsedPorts HostPortInfo
	// Requested is the sum of the pods' requests; NonZeroRequested the sum
	// with scoring defaults (cpu and memory only).
	Requested        Resource
	NonZeroRequested Resource
	// Allocatable is the node's status.allocatable.
	Allocatable Resource
	// Taints are the node's taints plus those implied by its Ready
	// condition (see TaintNodeNotReady).
	Taints []v1.Taint
	// ImageSizes maps every name of every image on the node (as the
	// kubelet reports it, normalised with NormalizeImageName) to its size.
	ImageSizes map[string]int64

	// Generation increases on every change; the cache uses it.
	Generation int64
}

// NewNodeInfo returns a NodeInfo holding pods and no node.
func NewNodeInfo(pods ...*PodInfo) *NodeInfo {
	ni := &NodeInfo{}
	for _, p := range pods {
		ni.AddPodInfo(p)
	}
	return ni
}

// Node is the node; nil while the cache holds pods of a node it has not
// seen (or no longer sees).
func (n *NodeInfo) Node() *v1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// SetNode records node and derives what the plugins read from it.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.Name, n.Labels, n.Unschedulable = node.Name, node.Labels, node.Spec.Unschedulable
	n.Allocatable = NewResource(node.Status.Allocatable)
	n.Taints = EffectiveTaints(node)
	n.ImageSizes = nil
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if n.ImageSizes == nil {
				n.ImageSizes = map[string]int64{}
			}
			n.ImageSizes[NormalizeImageName(name)] = img.SizeBytes
		}
	}
	n.Generation++
}

// RemoveNode forgets the node, keeping its pods (they may still be there
// until their deletion is seen).
func (n *NodeInfo) RemoveNode() {
	n.node = nil
	n.Generation++
}

// AddPodInfo counts a pod on the node.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.HasScoringAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.Requested.Add(&pi.Requests)
	n.NonZeroRequested.Add(&pi.NonZeroRequests)
	n.UsedPorts.addPod(pi.Pod)
	n.Generation++
}

// RemovePod stops counting the pod with pod's UID; an error if it is not
// counted here.
func (n *NodeInfo) RemovePod(pod *v1.Pod) error {
	idx := -1
	for i, p := range n.Pods {
		if p.Pod.UID == pod.UID {
			idx = i
			break
		}
	}
	if idx < 0 {
		name := "<none>"
		if n.node != nil {
			name = n.node.Name
		}
		return fmt.Errorf("pod %s/%s not on node %s", pod.Namespace, pod.Name, name)
	}
	pi := n.Pods[idx]
	n.Pods = removeAt(n.Pods, idx)
	n.PodsWithAffinity = removeUID(n.PodsWithAffinity, pod)
	n.PodsWithRequiredAntiAffinity = removeUID(n.PodsWithRequiredAntiAffinity, pod)
	n.Requested.Sub(&pi.Requests)
	n.NonZeroRequested.Sub(&pi.NonZeroRequests)
	n.UsedPorts.removePod(pi.Pod)
	n.Generation++
	return nil
}

// removeAt deletes s[i] without reordering and without touching the
// backing array clones share.
func removeAt(s []*PodInfo, i int) []*PodInfo {
	out := make([]*PodInfo, 0, len(s)-1)
	out = append(out, s[:i]...)
	return append(out, s[i+1:]...)
}

func removeUID(s []*PodInfo, pod *v1.Pod) []*PodInfo {
	for i, p := range s {
		if p.Pod.UID == pod.UID {
			return removeAt(s, i)
		}
	}
	return s
}

// Clone returns a copy that can be changed (pods added or removed) without
// affecting n. The pods and the node themselves are shared: they are
// never mutated.
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		node:             n.node,
		Name:             n.Name,
		Labels:           n.Labels,
		Unschedulable:    n.Unschedulable,
		Requested:        n.Requested.Clone(),
		NonZeroRequested: n.NonZeroRequested.Clone(),
		Allocatable:      n.Allocatable.Clone(),
		Taints:           n.Taints,
		ImageSizes:       n.ImageSizes,
		UsedPorts:        n.UsedPorts.clone(),
		Generation:       n.Generation,
	}
	// Full-capacity slices, so that an append on the clone never writes
	// into n's backing array.
	if len(n.Pods) > 0 {
		c.Pods = append(make([]*PodInfo, 0, len(n.Pods)), n.Pods...)
	}
	if len(n.PodsWithAffinity) > 0 {
		c.PodsWithAffinity = append(make([]*PodInfo, 0, len(n.PodsWithAffinity)), n.PodsWithAffinity...)
	}
	if len(n.PodsWithRequiredAntiAffinity) > 0 {
		c.PodsWithRequiredAntiAffinity = append(make([]*PodInfo, 0, len(n.PodsWithRequiredAntiAffinity)), n.PodsWithRequiredAntiAffinity...)
	}
	return c
}

// String is for logs and test failures.
func (n *NodeInfo) String() string {
	name := "<nil>"
	if n.node != nil {
		name = n.node.Name
	}
	pods := make([]string, 0, len(n.Pods))
	for _, p := range n.Pods {
		pods = append(pods, p.Pod.Namespace+"/"+p.Pod.Name)
	}
	return fmt.Sprintf("NodeInfo{%s, pods [%s], requested %+v}", name, strings.Join(pods, " "), n.Requested)
}

// EffectiveTaints are the node's taints plus a NoSchedule taint for a
// Ready condition that is False (not-ready) or Unknown (unreachable), the
// taints Kubernetes' node lifecycle controller would add. A node with no
// Ready condition at all (created by hand, or by a test) is taken as is.
func EffectiveTaints(node *v1.Node) []v1.Taint {
	var implied string
	for _, c := range node.Status.Conditions {
		if c.Type != v1.NodeReady {
			continue
		}
		switch c.Status {
		case v1.ConditionFalse:
			implied = TaintNodeNotReady
		case v1.ConditionUnknown:
			implied = TaintNodeUnreachable
		}
	}
	if implied == "" {
		return node.Spec.Taints
	}
	for _, t := range node.Spec.Taints {
		if t.Key == implied {
			return node.Spec.Taints
		}
	}
	out := make([]v1.Taint, 0, len(node.Spec.Taints)+1)
	out = append(out, node.Spec.Taints...)
	return append(out, v1.Taint{Key: implied, Effect: v1.TaintEffectNoSchedule})
}

// NormalizeImageName adds the ":latest" tag Kubernetes assumes for an
// image named without a tag or digest.
func NormalizeImageName(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	slash := strings.LastIndex(name, "/")
	if !strings.Contains(name[slash+1:], ":") {
		return name + ":latest"
	}
	return name
}
