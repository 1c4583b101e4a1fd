// Package interpodaffinity places pods relative to other pods: required
// pod affinity (only in a topology domain — a node, a zone — that already
// runs a matching pod), required anti-affinity (never in a domain that
// runs one, and never where an existing pod's anti-affinity forbids the
// new pod), and the preferred variants as scores.
//
// As in Kubernetes, PreFilter counts, once per cycle, the matching pods
// per topology pair (topologyKey=value), so that Filter on each node is a
// few map lookups.
package interpodaffinity

import "coracle.dev/scheduler/internal/framework"

// Name is the plugin's name in profiles and statuses.
const Name = "InterPodAffinity"

// Reasons, as Kubernetes words them.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

// hardPodAffinityWeight is what an existing pod's required affinity to the
// incoming pod adds to the score of its domain, as Kubernetes' default.
const hardPodAffinityWeight int64 = 1

// InterPodAffinity is the plugin.
type InterPodAffinity struct {
	handle framework.Handle
}

var (
	_ framework.PreFilterPlugin     = &InterPodAffinity{}
	_ framework.PreFilterExtensions = &InterPodAffinity{}
	_ framework.FilterPlugin        = &InterPodAffinity{}
	_ framework.PreScorePlugin      = &InterPodAffinity{}
	_ framework.ScorePlugin         = &InterPodAffinity{}
	_ framework.ScoreNormalizer     = &InterPodAffinity{}
	_ framework.EnqueueExtensions   = &InterPodAffinity{}
)

// New builds the plugin.
func New(h framework.Handle) (framework.Plugin, error) { return &InterPodAffinity{handle: h}, nil }

// Name implements framework.Plugin.
func (*InterPodAffinity) Name() string { return Name }

// EventsToRegister: any change to where pods run, or to node labels.
func (*InterPodAffinity) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.AssignedPod, ActionType: framework.Add | framework.Delete | framework.UpdatePodLabel},
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
	}
}

type topologyPair struct {
	key   string
	value string
}

type topologyCounts map[topologyPair]int64

func (m topologyCounts) add(key string, node map[string]string, delta int64) {
	v, ok := node[key]
	if !ok {
		return
	}
	tp := topologyPair{key: key, value: v}
	m[tp] += delta
	if m[tp] == 0 {
		delete(m, tp)
	}
}

func (m topologyCounts) clone() topologyCounts {
	out := make(topologyCounts, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// withNamespaces resolves the terms' namespace selectors into namespace
// names (the namespaces that exist now), so that matching an existing pod
// needs no namespace lookup, as Kubernetes does.
func (pl *InterPodAffinity) withNamespaces(terms []framework.AffinityTerm) []framework.AffinityTerm {
	if len(terms) == 0 {
		return terms
	}
	lister := pl.handle.Listers().Namespaces
	out := make([]framework.AffinityTerm, len(terms))
	for i, t := range terms {
		out[i] = t
		if t.NamespaceSelector == nil {
			continue
		}
		ns := t.Namespaces.Clone()
		if lister != nil {
			if list, err := lister.List(t.NamespaceSelector); err == nil {
				for _, n := range list {
					ns.Insert(n.Name)
				}
			}
		}
		out[i].Namespaces = ns
		out[i].NamespaceSelector = nil
	}
	return out
}

func (pl *InterPodAffinity) withNamespacesWeighted(terms []framework.WeightedAffinityTerm) []framework.WeightedAffinityTerm {
	if len(terms) == 0 {
		return terms
	}
	plain := make([]framework.AffinityTerm, len(terms))
	for i := range terms {
		plain[i] = terms[i].AffinityTerm
	}
	plain = pl.withNamespaces(plain)
	out := make([]framework.WeightedAffinityTerm, len(terms))
	for i := range terms {
		out[i] = framework.WeightedAffinityTerm{AffinityTerm: plain[i], Weight: terms[i].Weight}
	}
	return out
}
