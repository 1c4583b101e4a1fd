package nodestatus

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Event is one event the kubelet records on its Node: what `kubectl
// describe node` lists.
type Event struct {
	Type, Reason, Message string
}

// Reasons of the node's events, as the Kubernetes kubelet records them.
const (
	ReasonStarting = "Starting"
)

// conditionReasons names the event of each condition's status, as the
// Kubernetes kubelet's node status setters record them.
var conditionReasons = map[v1.NodeConditionType]map[v1.ConditionStatus]string{
	v1.NodeMemoryPressure: {v1.ConditionFalse: "NodeHasSufficientMemory", v1.ConditionTrue: "NodeHasInsufficientMemory"},
	v1.NodeDiskPressure:   {v1.ConditionFalse: "NodeHasNoDiskPressure", v1.ConditionTrue: "NodeHasDiskPressure"},
	v1.NodePIDPressure:    {v1.ConditionFalse: "NodeHasSufficientPID", v1.ConditionTrue: "NodeHasInsufficientPID"},
	v1.NodeReady:          {v1.ConditionTrue: "NodeReady", v1.ConditionFalse: "NodeNotReady"},
}

// ConditionEvents are the events of going from status old (nil: none
// written yet by this kubelet) to st: one per condition whose status
// changed, "Node NAME status is now: REASON".
func ConditionEvents(node string, old, st *v1.NodeStatus) []Event {
	var out []Event
	for _, c := range st.Conditions {
		reason := conditionReasons[c.Type][c.Status]
		if reason == "" || (old != nil && conditionStatus(old, c.Type) == c.Status) {
			continue
		}
		// Normal, even for pressure and NotReady, as upstream's.
		out = append(out, Event{Type: v1.EventTypeNormal, Reason: reason, Message: "Node " + node + " status is now: " + reason})
	}
	return out
}

func conditionStatus(st *v1.NodeStatus, t v1.NodeConditionType) v1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// record sends events about the node, when there is a recorder. The
// reference's UID is the node's name, as the Kubernetes kubelet's
// nodeRef.
func (m *Manager) record(events ...Event) {
	if m.opts.Recorder == nil {
		return
	}
	ref := &v1.ObjectReference{Kind: "Node", Name: m.opts.NodeName, UID: types.UID(m.opts.NodeName)}
	for _, e := range events {
		m.opts.Recorder.Event(ref, e.Type, e.Reason, e.Message)
	}
}
