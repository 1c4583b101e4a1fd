package interpodaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"coracle.dev/scheduler/internal/framework"
)

const preFilterKey framework.StateKey = "PreFilter" + Name

var (
	statusAffinity             = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	statusAntiAffinity         = framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	statusExistingAntiAffinity = framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
)

// preFilterState holds, per topology pair, how many existing pods:
type preFilterState struct {
	// have a required anti-affinity term that matches the incoming pod;
	existingAntiAffinityCounts topologyCounts
	// match all of the incoming pod's required affinity terms;
	affinityCounts topologyCounts
	// match one of the incoming pod's required anti-affinity terms.
	antiAffinityCounts topologyCounts

	affinityTerms     []framework.AffinityTerm
	antiAffinityTerms []framework.AffinityTerm
	nsLabels          labels.Set
	// existingKeys are the topology keys in existingAntiAffinityCounts, so
	// that Filter looks up only those of the node's labels.
	existingKeys []string
}

func (s *preFilterState) refreshExistingKeys() {
	s.existingKeys = s.existingKeys[:0]
	seen := map[string]bool{}
	for tp := range s.existingAntiAffinityCounts {
		if !seen[tp.key] {
			seen[tp.key] = true
			s.existingKeys = append(s.existingKeys, tp.key)
		}
	}
}

func (s *preFilterState) Clone() framework.StateData {
	c := *s
	c.existingAntiAffinityCounts = s.existingAntiAffinityCounts.clone()
	c.affinityCounts = s.affinityCounts.clone()
	c.antiAffinityCounts = s.antiAffinityCounts.clone()
	c.existingKeys = append([]string(nil), s.existingKeys...)
	return &c
}

// updateWithPod counts (delta 1) or uncounts (-1) existing pod p on node.
func (s *preFilterState) updateWithPod(incoming *v1.Pod, p *framework.PodInfo, node *v1.Node, delta int64) {
	for i := range p.RequiredAntiAffinityTerms {
		t := &p.RequiredAntiAffinityTerms[i]
		if t.Matches(incoming, s.nsLabels) {
			s.existingAntiAffinityCounts.add(t.TopologyKey, node.Labels, delta)
		}
	}
	if len(s.affinityTerms) > 0 && matchesAll(s.affinityTerms, p.Pod) {
		for i := range s.affinityTerms {
			s.affinityCounts.add(s.affinityTerms[i].TopologyKey, node.Labels, delta)
		}
	}
	for i := range s.antiAffinityTerms {
		t := &s.antiAffinityTerms[i]
		if t.Matches(p.Pod, nil) {
			s.antiAffinityCounts.add(t.TopologyKey, node.Labels, delta)
		}
	}
}

func matchesAll(terms []framework.AffinityTerm, pod *v1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(pod, nil) {
			return false
		}
	}
	return true
}

// PreFilter counts the pods that matter to the incoming pod per topology
// pair, through the snapshot's indexes: the existing anti-affinity terms
// that select the pod, and the pods its own terms select. A pod with no
// required terms, in a cluster where no pod has required anti-affinity,
// skips Filter.
func (pl *InterPodAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, _ []*framework.NodeInfo) *framework.Status {
	snap := pl.handle.SnapshotSharedLister()
	if len(pod.RequiredAffinityTerms) == 0 && len(pod.RequiredAntiAffinityTerms) == 0 && len(snap.HavePodsWithRequiredAntiAffinityList()) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preFilterState{
		existingAntiAffinityCounts: topologyCounts{},
		affinityCounts:             topologyCounts{},
		antiAffinityCounts:         topologyCounts{},
		affinityTerms:              pl.withNamespaces(pod.RequiredAffinityTerms),
		antiAffinityTerms:          pl.withNamespaces(pod.RequiredAntiAffinityTerms),
		nsLabels:                   labels.Set(pl.handle.Listers().NamespaceLabels(pod.Pod.Namespace)),
	}
	snap.ForEachExistingAntiAffinityTerm(pod.Pod, s.nsLabels, func(t *framework.AffinityTerm, ni *framework.NodeInfo, n int) {
		s.existingAntiAffinityCounts.add(t.TopologyKey, ni.Node().Labels, int64(n))
	})
	if len(s.affinityTerms) > 0 {
		snap.ForEachPodMatching(s.affinityTerms[0].Selector, func(p *framework.PodInfo, ni *framework.NodeInfo) {
			if matchesAll(s.affinityTerms, p.Pod) {
				for i := range s.affinityTerms {
					s.affinityCounts.add(s.affinityTerms[i].TopologyKey, ni.Node().Labels, 1)
				}
			}
		})
	}
	for i := range s.antiAffinityTerms {
		t := &s.antiAffinityTerms[i]
		snap.ForEachPodMatching(t.Selector, func(p *framework.PodInfo, ni *framework.NodeInfo) {
			if t.Matches(p.Pod, nil) {
				s.antiAffinityCounts.add(t.TopologyKey, ni.Node().Labels, 1)
			}
		})
	}
	s.refreshExistingKeys()
	if len(s.affinityTerms) == 0 && len(s.antiAffinityTerms) == 0 && len(s.existingAntiAffinityCounts) == 0 &&
		(pl.handle.PodNominator() == nil || pl.handle.PodNominator().Empty()) {
		// Nothing can keep this pod from any node (removing pods, as
		// preemption tries, cannot add a rule against it; only a
		// nominated pod being counted could, hence the last condition).
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, s)
	return nil
}

// AddPod implements framework.PreFilterExtensions.
func (pl *InterPodAffinity) AddPod(_ context.Context, state *framework.CycleState, pod, add *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	s, err := readPreFilter(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pod.Pod, add, ni.Node(), 1)
	s.refreshExistingKeys()
	return nil
}

// RemovePod implements framework.PreFilterExtensions.
func (pl *InterPodAffinity) RemovePod(_ context.Context, state *framework.CycleState, pod, rm *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	s, err := readPreFilter(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pod.Pod, rm, ni.Node(), -1)
	s.refreshExistingKeys()
	return nil
}

func readPreFilter(state *framework.CycleState) (*preFilterState, error) {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return nil, err
	}
	return d.(*preFilterState), nil
}

// Filter checks, in Kubernetes' order, the pod's affinity, its
// anti-affinity, and the existing pods' anti-affinity.
func (pl *InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, pod *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	s, err := readPreFilter(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	nodeLabels := ni.Node().Labels
	if !s.satisfiesAffinity(pod.Pod, nodeLabels) {
		return statusAffinity
	}
	if len(s.antiAffinityCounts) > 0 {
		for i := range s.antiAffinityTerms {
			key := s.antiAffinityTerms[i].TopologyKey
			if v, ok := nodeLabels[key]; ok && s.antiAffinityCounts[topologyPair{key, v}] > 0 {
				return statusAntiAffinity
			}
		}
	}
	for _, k := range s.existingKeys {
		if v, ok := nodeLabels[k]; ok && s.existingAntiAffinityCounts[topologyPair{k, v}] > 0 {
			return statusExistingAntiAffinity
		}
	}
	return nil
}

// satisfiesAffinity: the node must have every term's topology key, and
// each term's domain a matching pod — unless no pod anywhere matches and
// the pod matches its own terms (the first of a group that attracts
// itself), as Kubernetes allows.
func (s *preFilterState) satisfiesAffinity(pod *v1.Pod, nodeLabels map[string]string) bool {
	exist := true
	for i := range s.affinityTerms {
		key := s.affinityTerms[i].TopologyKey
		v, ok := nodeLabels[key]
		if !ok {
			return false
		}
		if s.affinityCounts[topologyPair{key, v}] <= 0 {
			exist = false
		}
	}
	if exist {
		return true
	}
	return len(s.affinityCounts) == 0 && matchesAll(s.affinityTerms, pod)
}
