package framework

import (
	"reflect"

	v1 "k8s.io/api/core/v1"
)

// EventResource is the kind of object a cluster event is about.
type EventResource string

const (
	// Node events.
	Node EventResource = "Node"
	// AssignedPod events are about pods bound (or assumed) to a node.
	AssignedPod EventResource = "AssignedPod"
	// PersistentVolumeClaim, PersistentVolume and StorageClass events
	// concern volume binding.
	PersistentVolumeClaim EventResource = "PersistentVolumeClaim"
	PersistentVolume      EventResource = "PersistentVolume"
	StorageClass          EventResource = "StorageClass"
	// WildCard matches any resource.
	WildCard EventResource = "*"
)

// ActionType says what happened; the Update bits say which part changed,
// so that a node's heartbeat does not wake every waiting pod.
type ActionType uint64

const (
	Add ActionType = 1 << iota
	Delete
	UpdateNodeAllocatable
	UpdateNodeLabel
	UpdateNodeTaint
	UpdateNodeCondition
	UpdateNodeUnschedulable
	UpdatePodLabel
	UpdatePodRequest

	// Update is any update.
	Update = UpdateNodeAllocatable | UpdateNodeLabel | UpdateNodeTaint | UpdateNodeCondition |
		UpdateNodeUnschedulable | UpdatePodLabel | UpdatePodRequest
	// All is any action.
	All ActionType = 1<<iota - 1
)

// ClusterEvent is something that happened to the cluster that may make a
// waiting pod fit.
type ClusterEvent struct {
	Resource   EventResource
	ActionType ActionType
	// Label names the event in metrics and logs.
	Label string
}

// Match reports whether ev is one that registered (a plugin's interest)
// covers.
func (registered ClusterEvent) Match(ev ClusterEvent) bool {
	if registered.Resource != WildCard && registered.Resource != ev.Resource {
		return false
	}
	return registered.ActionType&ev.ActionType != 0
}

// Events the scheduler generates from its informers.
var (
	EventNodeAdd        = ClusterEvent{Resource: Node, ActionType: Add, Label: "NodeAdd"}
	EventNodeDelete     = ClusterEvent{Resource: Node, ActionType: Delete, Label: "NodeDelete"}
	EventAssignedPodAdd = ClusterEvent{Resource: AssignedPod, ActionType: Add, Label: "AssignedPodAdd"}
	EventAssignedPodDel = ClusterEvent{Resource: AssignedPod, ActionType: Delete, Label: "AssignedPodDelete"}
)

// NodeUpdateEvent classifies a node update by what changed for
// scheduling; ok is false when nothing that can make a pod fit did (a
// heartbeat, an image list: images change scores, never feasibility).
func NodeUpdateEvent(old, cur *v1.Node) (ClusterEvent, bool) {
	var a ActionType
	if !reflect.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) {
		a |= UpdateNodeAllocatable
	}
	if !reflect.DeepEqual(old.Labels, cur.Labels) {
		a |= UpdateNodeLabel
	}
	if !reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
		a |= UpdateNodeTaint
	}
	if old.Spec.Unschedulable != cur.Spec.Unschedulable {
		a |= UpdateNodeUnschedulable
	}
	if readyStatus(old) != readyStatus(cur) {
		a |= UpdateNodeCondition
	}
	if a == 0 {
		return ClusterEvent{}, false
	}
	return ClusterEvent{Resource: Node, ActionType: a, Label: "NodeUpdate"}, true
}

// AssignedPodUpdateEvent classifies an update of a bound pod.
func AssignedPodUpdateEvent(old, cur *v1.Pod) (ClusterEvent, bool) {
	var a ActionType
	if !reflect.DeepEqual(old.Labels, cur.Labels) {
		a |= UpdatePodLabel
	}
	if !reflect.DeepEqual(PodRequests(old), PodRequests(cur)) {
		a |= UpdatePodRequest
	}
	if a == 0 {
		return ClusterEvent{}, false
	}
	return ClusterEvent{Resource: AssignedPod, ActionType: a, Label: "AssignedPodUpdate"}, true
}

func readyStatus(n *v1.Node) v1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status
		}
	}
	return ""
}
