package podtopologyspread

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"coracle.dev/scheduler/internal/framework"
)

const preFilterKey framework.StateKey = "PreFilter" + Name

var (
	statusMissingLabel = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
	statusSkew         = framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
)

// preFilterState counts, per DoNotSchedule constraint, the matching pods
// in each domain of the eligible nodes, and the smallest count.
type preFilterState struct {
	constraints []constraint
	counts      []map[string]int64
	minCount    []int64
	required    nodeaffinity.RequiredNodeAffinity
}

func (s *preFilterState) Clone() framework.StateData {
	c := &preFilterState{constraints: s.constraints, required: s.required,
		counts: make([]map[string]int64, len(s.counts)), minCount: append([]int64(nil), s.minCount...)}
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int64, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	return c
}

func (s *preFilterState) recomputeMin(i int) {
	m := int64(math.MaxInt64)
	for _, v := range s.counts[i] {
		m = min(m, v)
	}
	s.minCount[i] = m
}

// PreFilter counts matching pods per domain; pods without DoNotSchedule
// constraints skip Filter.
func (pl *PodTopologySpread) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, nodes []*framework.NodeInfo) *framework.Status {
	cs, err := buildConstraints(pod.Pod, pod.Pod.Spec.TopologySpreadConstraints, v1.DoNotSchedule)
	if err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preFilterState{constraints: cs, counts: make([]map[string]int64, len(cs)), minCount: make([]int64, len(cs)),
		required: nodeaffinity.GetRequiredNodeAffinity(pod.Pod)}
	for i := range cs {
		s.counts[i] = map[string]int64{}
	}
	for _, ni := range nodes {
		node := ni.Node()
		if !nodeHasAllKeys(node.Labels, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if !c.matchesNodeInclusionPolicies(pod.Pod, ni, s.required) {
				continue
			}
			s.counts[i][node.Labels[c.TopologyKey]] += countMatching(ni.Pods, c.Selector, pod.Pod.Namespace)
		}
	}
	for i := range cs {
		s.recomputeMin(i)
	}
	state.Write(preFilterKey, s)
	return nil
}

func (pl *PodTopologySpread) update(state *framework.CycleState, pod, other *framework.PodInfo, ni *framework.NodeInfo, delta int64) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	node := ni.Node()
	if other.Pod.Namespace != pod.Pod.Namespace || !nodeHasAllKeys(node.Labels, s.constraints) {
		return nil
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		if !c.Selector.Matches(labels.Set(other.Pod.Labels)) || !c.matchesNodeInclusionPolicies(pod.Pod, ni, s.required) {
			continue
		}
		s.counts[i][node.Labels[c.TopologyKey]] += delta
		s.recomputeMin(i)
	}
	return nil
}

// AddPod implements framework.PreFilterExtensions.
func (pl *PodTopologySpread) AddPod(_ context.Context, state *framework.CycleState, pod, add *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.update(state, pod, add, ni, 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (pl *PodTopologySpread) RemovePod(_ context.Context, state *framework.CycleState, pod, rm *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.update(state, pod, rm, ni, -1)
}

// Filter rejects a node lacking a constraint's topology key, or whose
// domain would exceed the smallest domain count by more than maxSkew.
// With fewer domains than minDomains, the smallest count is taken as 0.
func (pl *PodTopologySpread) Filter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	nodeLabels := ni.Node().Labels
	podLabels := labels.Set(pod.Pod.Labels)
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := nodeLabels[c.TopologyKey]
		if !ok {
			return statusMissingLabel
		}
		var self int64
		if c.Selector.Matches(podLabels) {
			self = 1
		}
		minCount := s.minCount[i]
		if int32(len(s.counts[i])) < c.MinDomains || minCount == math.MaxInt64 {
			minCount = 0
		}
		if s.counts[i][v]+self-minCount > int64(c.MaxSkew) {
			return statusSkew
		}
	}
	return nil
}
