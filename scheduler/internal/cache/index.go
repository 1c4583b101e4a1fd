package cache

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"coracle.dev/scheduler/internal/framework"
)

// The snapshot indexes pods two ways, so that inter-pod affinity costs
// the number of pods a term can concern rather than the number of pods in
// the cluster: every pod by each of its labels, and every distinct
// required anti-affinity term of existing pods by one label value the
// pods it selects must carry (its anchor). Both are kept up to date node
// by node as UpdateSnapshot clones the nodes that changed.

type labelKV struct{ key, value string }

type antiTermEntry struct {
	term   *framework.AffinityTerm
	anchor *labelKV
	// nodes holding pods with the term, and how many.
	nodes map[*framework.NodeInfo]int
}

type podIndex struct {
	byLabel      map[labelKV]map[*framework.PodInfo]*framework.NodeInfo
	antiTerms    map[string]*antiTermEntry
	antiAnchored map[labelKV]map[string]*antiTermEntry
	antiFree     map[string]*antiTermEntry // terms with no anchor
}

func newPodIndex() podIndex {
	return podIndex{
		byLabel:      map[labelKV]map[*framework.PodInfo]*framework.NodeInfo{},
		antiTerms:    map[string]*antiTermEntry{},
		antiAnchored: map[labelKV]map[string]*antiTermEntry{},
		antiFree:     map[string]*antiTermEntry{},
	}
}

// anchor is a label every pod the selector matches carries: the key and
// value of its first Equals (or single-valued In) requirement.
func anchor(sel labels.Selector) *labelKV {
	reqs, ok := sel.Requirements()
	if !ok {
		return nil
	}
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			if vals := r.ValuesUnsorted(); len(vals) == 1 {
				return &labelKV{r.Key(), vals[0]}
			}
		}
	}
	return nil
}

func (x *podIndex) addNode(ni *framework.NodeInfo) {
	for _, p := range ni.Pods {
		for k, v := range p.Pod.Labels {
			kv := labelKV{k, v}
			m := x.byLabel[kv]
			if m == nil {
				m = map[*framework.PodInfo]*framework.NodeInfo{}
				x.byLabel[kv] = m
			}
			m[p] = ni
		}
	}
	for _, p := range ni.PodsWithRequiredAntiAffinity {
		for i := range p.RequiredAntiAffinityTerms {
			t := &p.RequiredAntiAffinityTerms[i]
			e := x.antiTerms[t.Key]
			if e == nil {
				e = &antiTermEntry{term: t, anchor: anchor(t.Selector), nodes: map[*framework.NodeInfo]int{}}
				x.antiTerms[t.Key] = e
				if e.anchor == nil {
					x.antiFree[t.Key] = e
				} else {
					m := x.antiAnchored[*e.anchor]
					if m == nil {
						m = map[string]*antiTermEntry{}
						x.antiAnchored[*e.anchor] = m
					}
					m[t.Key] = e
				}
			}
			e.nodes[ni]++
		}
	}
}

func (x *podIndex) removeNode(ni *framework.NodeInfo) {
	for _, p := range ni.Pods {
		for k, v := range p.Pod.Labels {
			kv := labelKV{k, v}
			if m := x.byLabel[kv]; m != nil {
				delete(m, p)
				if len(m) == 0 {
					delete(x.byLabel, kv)
				}
			}
		}
	}
	for _, p := range ni.PodsWithRequiredAntiAffinity {
		for i := range p.RequiredAntiAffinityTerms {
			key := p.RequiredAntiAffinityTerms[i].Key
			e := x.antiTerms[key]
			if e == nil {
				continue
			}
			if e.nodes[ni]--; e.nodes[ni] <= 0 {
				delete(e.nodes, ni)
			}
			if len(e.nodes) > 0 {
				continue
			}
			delete(x.antiTerms, key)
			if e.anchor == nil {
				delete(x.antiFree, key)
			} else if m := x.antiAnchored[*e.anchor]; m != nil {
				delete(m, key)
				if len(m) == 0 {
					delete(x.antiAnchored, *e.anchor)
				}
			}
		}
	}
}

// ForEachPodMatching implements framework.SharedLister: it looks up the
// pods carrying the label of the selector's most selective Equals or In
// requirement, or scans every pod when the selector has none.
func (s *Snapshot) ForEachPodMatching(sel labels.Selector, fn func(*framework.PodInfo, *framework.NodeInfo)) {
	reqs, ok := sel.Requirements()
	if !ok {
		return // selects nothing
	}
	var best []map[*framework.PodInfo]*framework.NodeInfo
	bestSize := -1
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
		default:
			continue
		}
		var cand []map[*framework.PodInfo]*framework.NodeInfo
		size := 0
		for _, v := range r.ValuesUnsorted() {
			if m := s.index.byLabel[labelKV{r.Key(), v}]; len(m) > 0 {
				cand = append(cand, m)
				size += len(m)
			}
		}
		if bestSize < 0 || size < bestSize {
			best, bestSize = cand, size
		}
	}
	if bestSize < 0 {
		for _, ni := range s.nodeInfoList {
			for _, p := range ni.Pods {
				if sel.Matches(labels.Set(p.Pod.Labels)) {
					fn(p, ni)
				}
			}
		}
		return
	}
	for _, m := range best {
		for p, ni := range m {
			if ni.Node() != nil && sel.Matches(labels.Set(p.Pod.Labels)) {
				fn(p, ni)
			}
		}
	}
}

// ForEachExistingAntiAffinityTerm implements framework.SharedLister: only
// terms anchored on one of pod's labels, and the few without an anchor,
// can select it.
func (s *Snapshot) ForEachExistingAntiAffinityTerm(pod *v1.Pod, nsLabels labels.Set, fn func(*framework.AffinityTerm, *framework.NodeInfo, int)) {
	visit := func(e *antiTermEntry) {
		if !e.term.Matches(pod, nsLabels) {
			return
		}
		for ni, n := range e.nodes {
			if ni.Node() != nil {
				fn(e.term, ni, n)
			}
		}
	}
	for k, v := range pod.Labels {
		for _, e := range s.index.antiAnchored[labelKV{k, v}] {
			visit(e)
		}
	}
	for _, e := range s.index.antiFree {
		visit(e)
	}
}
