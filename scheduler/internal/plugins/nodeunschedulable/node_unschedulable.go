// Package nodeunschedulable keeps pods off cordoned nodes
// (spec.unschedulable), unless they tolerate the
// node.kubernetes.io/unschedulable:NoSchedule taint, as DaemonSet pods do.
package nodeunschedulable

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "NodeUnschedulable"

// ErrReasonUnschedulable is the reason a cordoned node gives.
const ErrReasonUnschedulable = "node(s) were unschedulable"

// NodeUnschedulable is the plugin.
type NodeUnschedulable struct{}

var (
	_ framework.FilterPlugin      = &NodeUnschedulable{}
	_ framework.EnqueueExtensions = &NodeUnschedulable{}
)

// New builds the plugin.
func New(framework.Handle) (framework.Plugin, error) { return &NodeUnschedulable{}, nil }

// Name implements framework.Plugin.
func (*NodeUnschedulable) Name() string { return Name }

var unschedulableTaint = v1.Taint{Key: framework.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}

// Filter rejects a cordoned node unless the pod tolerates the cordon.
func (*NodeUnschedulable) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	if !ni.Unschedulable {
		return nil
	}
	if framework.TolerationsTolerateTaint(pod.Pod.Spec.Tolerations, &unschedulableTaint) {
		return nil
	}
	return statusUnschedulable
}

var statusUnschedulable = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable)

// EventsToRegister: a new node, or one uncordoned.
func (*NodeUnschedulable) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeUnschedulable | framework.UpdateNodeTaint}}
}
