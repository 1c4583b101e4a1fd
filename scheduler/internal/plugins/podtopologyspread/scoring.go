package podtopologyspread

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"coracle.dev/scheduler/internal/framework"
)

const preScoreKey framework.StateKey = "PreScore" + Name

type preScoreState struct {
	constraints []constraint
	// counts per constraint and domain, over every eligible node whose
	// domain a feasible node is in (hostname constraints count on the
	// node itself in Score instead).
	counts []map[string]int64
	// weights per constraint: log(number of domains + 2), so that a
	// constraint over many domains (hostname) does not drown one over few
	// (zone), as Kubernetes weighs them.
	weights []float64
	// ignored are feasible nodes lacking a topology key: they score 0.
	ignored map[string]bool
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore counts matching pods per domain for the ScheduleAnyway
// constraints, or the system defaults for pods with no constraints. Pods
// with neither skip Score.
func (pl *PodTopologySpread) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, feasible []*framework.NodeInfo) *framework.Status {
	var cs []constraint
	if len(pod.Pod.Spec.TopologySpreadConstraints) > 0 {
		var err error
		if cs, err = buildConstraints(pod.Pod, pod.Pod.Spec.TopologySpreadConstraints, v1.ScheduleAnyway); err != nil {
			return framework.AsStatus(err)
		}
	} else {
		sel := defaultSelector(pod.Pod, pl.handle.Listers())
		if !sel.Empty() {
			for _, c := range systemDefaultConstraints {
				cs = append(cs, newConstraint(c, sel))
			}
		}
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preScoreState{constraints: cs, counts: make([]map[string]int64, len(cs)), weights: make([]float64, len(cs)), ignored: map[string]bool{}}
	domains := make([]map[string]bool, len(cs))
	for i := range cs {
		s.counts[i], domains[i] = map[string]int64{}, map[string]bool{}
	}
	// The domains are those of the feasible nodes...
	for _, ni := range feasible {
		node := ni.Node()
		if !nodeHasAllKeys(node.Labels, cs) {
			s.ignored[node.Name] = true
			continue
		}
		for i := range cs {
			domains[i][node.Labels[cs[i].TopologyKey]] = true
		}
	}
	for i := range cs {
		s.weights[i] = math.Log(float64(len(domains[i]) + 2))
	}
	// ... and the pods counted are those on every eligible node in them.
	required := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
	for _, ni := range pl.handle.SnapshotSharedLister().List() {
		node := ni.Node()
		if !nodeHasAllKeys(node.Labels, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if c.TopologyKey == v1.LabelHostname {
				continue
			}
			v := node.Labels[c.TopologyKey]
			if !domains[i][v] || !c.matchesNodeInclusionPolicies(pod.Pod, ni, required) {
				continue
			}
			s.counts[i][v] += countMatching(ni.Pods, c.Selector, pod.Pod.Namespace)
		}
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score sums, per constraint, the matching pods in the node's domain
// weighted, plus maxSkew-1 (fewer is better; NormalizeScore reverses).
func (pl *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	node := ni.Node()
	if s.ignored[node.Name] {
		return 0, nil
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		var n int64
		if c.TopologyKey == v1.LabelHostname {
			n = countMatching(ni.Pods, c.Selector, pod.Pod.Namespace)
		} else {
			n = s.counts[i][v]
		}
		score += float64(n)*s.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// NormalizeScore maps the least crowded node to MaxNodeScore; nodes
// lacking a topology key get 0.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	var lo, hi int64 = math.MaxInt64, 0
	for _, sc := range scores {
		if s.ignored[sc.Name] {
			continue
		}
		lo, hi = min(lo, sc.Score), max(hi, sc.Score)
	}
	for i := range scores {
		switch {
		case s.ignored[scores[i].Name]:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}
