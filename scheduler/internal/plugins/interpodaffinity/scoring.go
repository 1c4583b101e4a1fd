package interpodaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/scheduler/internal/framework"
)

const preScoreKey framework.StateKey = "PreScore" + Name

// scoreMap is the score of each topology pair: topologyKey → value → sum.
type scoreMap map[string]map[string]int64

func (m scoreMap) add(key string, nodeLabels map[string]string, w int64) {
	v, ok := nodeLabels[key]
	if !ok || w == 0 {
		return
	}
	if m[key] == nil {
		m[key] = map[string]int64{}
	}
	m[key][v] += w
}

type preScoreState struct {
	scores scoreMap
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore sums, per topology pair, the weights of the preferred terms
// linking the incoming pod and existing pods, both ways, and the hard
// weight of existing pods' required affinity to the incoming pod. The
// incoming pod's terms find their pods through the snapshot's label
// index; only pods with scoring terms of their own are visited for the
// other direction.
func (pl *InterPodAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	snap := pl.handle.SnapshotSharedLister()
	withAffinity := snap.HavePodsWithAffinityList()
	if len(pod.PreferredAffinityTerms) == 0 && len(pod.PreferredAntiAffinityTerms) == 0 && len(withAffinity) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	total := scoreMap{}
	for sign, terms := range map[int64][]framework.WeightedAffinityTerm{
		1:  pl.withNamespacesWeighted(pod.PreferredAffinityTerms),
		-1: pl.withNamespacesWeighted(pod.PreferredAntiAffinityTerms),
	} {
		for i := range terms {
			t := &terms[i]
			snap.ForEachPodMatching(t.Selector, func(p *framework.PodInfo, ni *framework.NodeInfo) {
				if t.Matches(p.Pod, nil) {
					total.add(t.TopologyKey, ni.Node().Labels, sign*int64(t.Weight))
				}
			})
		}
	}
	nsLabels := labels.Set(pl.handle.Listers().NamespaceLabels(pod.Pod.Namespace))
	for _, ni := range withAffinity {
		for _, p := range ni.PodsWithAffinity {
			scoreExistingPod(total, pod.Pod, p, ni.Node(), nsLabels)
		}
	}
	if len(total) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreKey, &preScoreState{scores: total})
	return nil
}

// scoreExistingPod adds what existing's own terms say about incoming.
func scoreExistingPod(m scoreMap, incoming *v1.Pod, existing *framework.PodInfo, node *v1.Node, nsLabels labels.Set) {
	add := func(key string, w int64) { m.add(key, node.Labels, w) }
	for i := range existing.RequiredAffinityTerms {
		t := &existing.RequiredAffinityTerms[i]
		if t.Matches(incoming, nsLabels) {
			add(t.TopologyKey, hardPodAffinityWeight)
		}
	}
	for i := range existing.PreferredAffinityTerms {
		t := &existing.PreferredAffinityTerms[i]
		if t.Matches(incoming, nsLabels) {
			add(t.TopologyKey, int64(t.Weight))
		}
	}
	for i := range existing.PreferredAntiAffinityTerms {
		t := &existing.PreferredAntiAffinityTerms[i]
		if t.Matches(incoming, nsLabels) {
			add(t.TopologyKey, -int64(t.Weight))
		}
	}
}

// Score sums the scores of the node's topology pairs.
func (pl *InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *framework.PodInfo, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	var score int64
	labels := ni.Node().Labels
	for key, values := range d.(*preScoreState).scores {
		if v, ok := labels[key]; ok {
			score += values[v]
		}
	}
	return score, nil
}

// NormalizeScore maps the raw scores, which may be negative, linearly onto
// [0, 100]; all equal maps to 0.
func (pl *InterPodAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	diff := hi - lo
	for i := range scores {
		if diff > 0 {
			scores[i].Score = int64(float64(framework.MaxNodeScore) * float64(scores[i].Score-lo) / float64(diff))
		} else {
			scores[i].Score = 0
		}
	}
	return nil
}
