// Package nodeaffinity filters nodes by a pod's nodeSelector and its
// requiredDuringSchedulingIgnoredDuringExecution node affinity, and
// scores them by the weights of its preferred node affinity terms. The
// matching is component-helpers' (k8s.io/component-helpers), the same code
// Kubernetes' scheduler and kubelet use.
package nodeaffinity

import (
	"context"

	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "NodeAffinity"

// ErrReasonPod is the reason a node that does not match gives.
const ErrReasonPod = "node(s) didn't match Pod's node affinity/selector"

const (
	preFilterKey framework.StateKey = "PreFilter" + Name
	preScoreKey  framework.StateKey = "PreScore" + Name
)

var statusMismatch = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)

// NodeAffinity is the plugin.
type NodeAffinity struct {
	handle framework.Handle
}

var (
	_ framework.PreFilterPlugin   = &NodeAffinity{}
	_ framework.FilterPlugin      = &NodeAffinity{}
	_ framework.PreScorePlugin    = &NodeAffinity{}
	_ framework.ScorePlugin       = &NodeAffinity{}
	_ framework.ScoreNormalizer   = &NodeAffinity{}
	_ framework.EnqueueExtensions = &NodeAffinity{}
)

// New builds the plugin.
func New(h framework.Handle) (framework.Plugin, error) { return &NodeAffinity{handle: h}, nil }

// Name implements framework.Plugin.
func (*NodeAffinity) Name() string { return Name }

type preFilterState struct {
	required nodeaffinity.RequiredNodeAffinity
	// selectorOnly: the pod has a nodeSelector and no required affinity,
	// so a straight comparison of labels decides.
	selectorOnly bool
	selector     map[string]string
}

func (s *preFilterState) Clone() framework.StateData { return s }

type preScoreState struct {
	preferred *nodeaffinity.PreferredSchedulingTerms
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreFilter parses the pod's selector and required affinity once; a pod
// with neither skips Filter.
func (pl *NodeAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	spec := &pod.Pod.Spec
	hasRequired := spec.Affinity != nil && spec.Affinity.NodeAffinity != nil &&
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil
	if len(spec.NodeSelector) == 0 && !hasRequired {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, &preFilterState{required: nodeaffinity.GetRequiredNodeAffinity(pod.Pod),
		selectorOnly: !hasRequired, selector: spec.NodeSelector})
	// Only nodes carrying every nodeSelector label can pass: visit those
	// of the rarest label alone.
	snap := pl.handle.SnapshotSharedLister()
	var best []*framework.NodeInfo
	found := false
	for k, v := range spec.NodeSelector {
		if nodes := snap.NodesWithLabel(k, v); !found || len(nodes) < len(best) {
			best, found = nodes, true
		}
	}
	if found {
		state.RestrictNodes(best, statusMismatch, Name)
	}
	return nil
}

// Filter rejects a node the selector or the required terms do not match.
func (*NodeAffinity) Filter(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	if s.selectorOnly {
		for k, v := range s.selector {
			if got, ok := ni.Labels[k]; !ok || got != v {
				return statusMismatch
			}
		}
		return nil
	}
	ok, err := s.required.Match(ni.Node())
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if !ok {
		return statusMismatch
	}
	return nil
}

// PreScore parses the preferred terms; a pod with none skips Score.
func (*NodeAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	aff := pod.Pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || len(aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return framework.AsStatus(err)
	}
	state.Write(preScoreKey, &preScoreState{preferred: terms})
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (*NodeAffinity) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	return d.(*preScoreState).preferred.Score(ni.Node()), nil
}

// NormalizeScore scales so the best node gets MaxNodeScore.
func (*NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxNodeScore, false, scores)
	return nil
}

// EventsToRegister: a new node, or new labels on one.
func (*NodeAffinity) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}}
}
