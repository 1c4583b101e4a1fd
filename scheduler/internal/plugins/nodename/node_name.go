// Package nodename honours a pod's spec.nodeName: only that node fits.
// (Pods the API already bound never reach the scheduler; the filter
// matters to preemption's dry runs and to pods whose nodeName names a node
// that must first be checked.)
package nodename

import (
	"context"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "NodeName"

// ErrReason is the reason every other node gives.
const ErrReason = "node(s) didn't match the requested node name"

// NodeName is the plugin.
type NodeName struct{}

var (
	_ framework.PreFilterPlugin   = &NodeName{}
	_ framework.FilterPlugin      = &NodeName{}
	_ framework.EnqueueExtensions = &NodeName{}
)

// New builds the plugin.
func New(framework.Handle) (framework.Plugin, error) { return &NodeName{}, nil }

// Name implements framework.Plugin.
func (*NodeName) Name() string { return Name }

// PreFilter skips Filter for the pods (nearly all) that name no node.
func (*NodeName) PreFilter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	if pod.Pod.Spec.NodeName == "" {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Filter rejects every node but the one the pod names, if it names one.
func (*NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if want := pod.Pod.Spec.NodeName; want != "" && want != ni.Name {
		return statusMismatch
	}
	return nil
}

var statusMismatch = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)

// EventsToRegister: only a new node can be the named one.
func (*NodeName) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.Node, ActionType: framework.Add}}
}
