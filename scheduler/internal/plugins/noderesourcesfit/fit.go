// Package noderesourcesfit keeps a pod off nodes without room for its
// requests — cpu, memory, ephemeral storage, pod slots and extended
// resources, counting init containers and overhead as the kubelet does —
// and scores the rest by the LeastAllocated strategy: the more of cpu and
// memory a node would have left, the better.
package noderesourcesfit

import (
	"context"
	"sort"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "NodeResourcesFit"

// ErrReasonTooManyPods is the reason a node with no free pod slot gives.
const ErrReasonTooManyPods = "Too many pods"

// Fit is the plugin.
type Fit struct {
	// scoringResources weigh the LeastAllocated score; cpu and memory
	// with weight 1 each, as Kubernetes' default.
	scoringResources []resourceWeight
}

type resourceWeight struct {
	name   v1.ResourceName
	weight int64
}

var (
	_ framework.FilterPlugin      = &Fit{}
	_ framework.ScorePlugin       = &Fit{}
	_ framework.EnqueueExtensions = &Fit{}
)

// New builds the plugin.
func New(framework.Handle) (framework.Plugin, error) {
	return &Fit{scoringResources: []resourceWeight{{v1.ResourceCPU, 1}, {v1.ResourceMemory, 1}}}, nil
}

// Name implements framework.Plugin.
func (*Fit) Name() string { return Name }

// InsufficientResource is one shortfall.
type InsufficientResource struct {
	Name      v1.ResourceName
	Reason    string
	Requested int64
	Used      int64
	Capacity  int64
	// Unresolvable: the pod asks for more than the node has in total, so
	// evicting pods cannot help.
	Unresolvable bool
}

// Fits lists what node lacks for pod; empty when the pod fits.
func Fits(pod *framework.PodInfo, ni *framework.NodeInfo) []InsufficientResource {
	var out []InsufficientResource
	alloc, used := &ni.Allocatable, &ni.Requested
	if n := int64(len(ni.Pods)) + 1; n > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{Name: v1.ResourcePods, Reason: ErrReasonTooManyPods,
			Requested: 1, Used: int64(len(ni.Pods)), Capacity: alloc.AllowedPodNumber,
			Unresolvable: alloc.AllowedPodNumber < 1})
	}
	req := &pod.Requests
	out = check(out, v1.ResourceCPU, req.MilliCPU, alloc.MilliCPU, used.MilliCPU)
	out = check(out, v1.ResourceMemory, req.Memory, alloc.Memory, used.Memory)
	out = check(out, v1.ResourceEphemeralStorage, req.EphemeralStorage, alloc.EphemeralStorage, used.EphemeralStorage)
	if len(req.Scalar) > 0 {
		names := make([]string, 0, len(req.Scalar))
		for name := range req.Scalar {
			names = append(names, string(name))
		}
		sort.Strings(names) // stable reasons
		for _, name := range names {
			rn := v1.ResourceName(name)
			out = check(out, rn, req.Scalar[rn], alloc.Scalar[rn], used.Scalar[rn])
		}
	}
	return out
}

func check(out []InsufficientResource, name v1.ResourceName, want, have, inUse int64) []InsufficientResource {
	if want > 0 && want > have-inUse {
		out = append(out, InsufficientResource{Name: name, Reason: "Insufficient " + string(name),
			Requested: want, Used: inUse, Capacity: have, Unresolvable: want > have})
	}
	return out
}

// Filter rejects a node without room, with one reason per short resource.
// When every shortfall is more than the node has at all, preemption
// cannot help: UnschedulableAndUnresolvable.
func (*Fit) Filter(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	short := Fits(pod, ni)
	if len(short) == 0 {
		return nil
	}
	if len(short) == 1 {
		if s, ok := commonStatuses[short[0].Name][short[0].Unresolvable]; ok {
			return s
		}
	}
	reasons := make([]string, len(short))
	code := framework.UnschedulableAndUnresolvable
	for i, s := range short {
		reasons[i] = s.Reason
		if !s.Unresolvable {
			code = framework.Unschedulable
		}
	}
	return framework.NewStatus(code, reasons...)
}

// commonStatuses are the single-resource rejections, built once: the
// filter runs on thousands of nodes per pod.
var commonStatuses = func() map[v1.ResourceName]map[bool]*framework.Status {
	m := map[v1.ResourceName]map[bool]*framework.Status{}
	for name, reason := range map[v1.ResourceName]string{
		v1.ResourcePods: ErrReasonTooManyPods, v1.ResourceCPU: "Insufficient cpu",
		v1.ResourceMemory: "Insufficient memory", v1.ResourceEphemeralStorage: "Insufficient ephemeral-storage",
	} {
		m[name] = map[bool]*framework.Status{
			false: framework.NewStatus(framework.Unschedulable, reason),
			true:  framework.NewStatus(framework.UnschedulableAndUnresolvable, reason),
		}
	}
	return m
}()

// Score is LeastAllocated: for each scoring resource, the share of the
// node's allocatable left free once the pod is placed (requests with
// scoring defaults), weighted and averaged into [0, 100].
func (f *Fit) Score(_ context.Context, _ *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	var score, weights int64
	for _, r := range f.scoringResources {
		alloc := ni.Allocatable.Get(r.name)
		requested := ni.NonZeroRequested.Get(r.name) + pod.NonZeroRequests.Get(r.name)
		score += leastRequested(requested, alloc) * r.weight
		weights += r.weight
	}
	if weights == 0 {
		return 0, nil
	}
	return score / weights, nil
}

func leastRequested(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * framework.MaxNodeScore / capacity
}

// EventsToRegister: a pod leaving (or shrinking) frees room; a new node,
// or one with more allocatable, has room.
func (*Fit) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.AssignedPod, ActionType: framework.Delete | framework.UpdatePodRequest},
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable},
	}
}
