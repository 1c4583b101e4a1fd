// Package nodeports keeps two pods from taking the same host port on one
// node: same port and protocol, on the same host IP or on 0.0.0.0.
package nodeports

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "NodePorts"

// ErrReason is the reason a node with a clashing port gives.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

const stateKey framework.StateKey = "PreFilter" + Name

var statusConflict = framework.NewStatus(framework.Unschedulable, ErrReason)

// NodePorts is the plugin.
type NodePorts struct{}

var (
	_ framework.PreFilterPlugin   = &NodePorts{}
	_ framework.FilterPlugin      = &NodePorts{}
	_ framework.EnqueueExtensions = &NodePorts{}
)

// New builds the plugin.
func New(framework.Handle) (framework.Plugin, error) { return &NodePorts{}, nil }

// Name implements framework.Plugin.
func (*NodePorts) Name() string { return Name }

type preFilterState []v1.ContainerPort

func (s preFilterState) Clone() framework.StateData { return s }

// PreFilter lists the pod's host ports; a pod with none skips Filter.
func (*NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	ports := framework.PodHostPorts(pod.Pod)
	if len(ports) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(stateKey, preFilterState(ports))
	return nil
}

// Filter rejects a node where one of the pod's host ports is taken.
func (*NodePorts) Filter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	for _, p := range d.(preFilterState) {
		if ni.UsedPorts.CheckConflict(p.HostIP, string(p.Protocol), p.HostPort) {
			return statusConflict
		}
	}
	return nil
}

// EventsToRegister: a pod leaving frees its ports; a new node has all.
func (*NodePorts) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.AssignedPod, ActionType: framework.Delete},
		{Resource: framework.Node, ActionType: framework.Add},
	}
}
