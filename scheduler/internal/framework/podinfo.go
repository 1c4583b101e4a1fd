package framework

import (
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
)

// PodInfo is a pod with what the scheduler derives from its spec, computed
// once when the pod enters the queue or the cache rather than on every
// node of every cycle. It is immutable once built.
type PodInfo struct {
	Pod *v1.Pod

	// Requests is what the pod needs from a node (PodRequests).
	Requests Resource
	// NonZeroRequests is cpu and memory with scoring defaults.
	NonZeroRequests Resource

	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm

	// ParseError is set when an affinity term's selector does not parse;
	// the pod is then unschedulable with that error.
	ParseError error
}

// AffinityTerm is a PodAffinityTerm with its selectors parsed.
type AffinityTerm struct {
	// Namespaces the term applies to; with NamespaceSelector, the pod's
	// namespace is matched by either.
	Namespaces  sets.Set[string]
	Selector    labels.Selector
	TopologyKey string
	// NamespaceSelector is nil when the term has none; an empty one
	// selects every namespace, as in the API.
	NamespaceSelector labels.Selector
	// Key is the same for equal terms (same namespaces, selectors and
	// topology key): the snapshot indexes existing pods' terms by it.
	Key string
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// Matches reports whether pod, whose namespace carries nsLabels, is one the
// term selects. nsLabels matter only for terms with a namespaceSelector.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || (t.NamespaceSelector != nil && t.NamespaceSelector.Matches(nsLabels)) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// NewPodInfo derives a PodInfo from pod; it never fails, recording bad
// selectors in ParseError instead.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod, Requests: PodRequests(pod), NonZeroRequests: PodNonZeroRequests(pod)}
	aff := pod.Spec.Affinity
	if aff == nil {
		return pi
	}
	var errs []error
	if a := aff.PodAffinity; a != nil {
		var err error
		pi.RequiredAffinityTerms, err = affinityTerms(pod, a.RequiredDuringSchedulingIgnoredDuringExecution)
		errs = append(errs, err)
		pi.PreferredAffinityTerms, err = weightedAffinityTerms(pod, a.PreferredDuringSchedulingIgnoredDuringExecution)
		errs = append(errs, err)
	}
	if a := aff.PodAntiAffinity; a != nil {
		var err error
		pi.RequiredAntiAffinityTerms, err = affinityTerms(pod, a.RequiredDuringSchedulingIgnoredDuringExecution)
		errs = append(errs, err)
		pi.PreferredAntiAffinityTerms, err = weightedAffinityTerms(pod, a.PreferredDuringSchedulingIgnoredDuringExecution)
		errs = append(errs, err)
	}
	pi.ParseError = errors.Join(errs...)
	return pi
}

// HasScoringAffinity reports whether the pod has a term that weighs on
// other pods' scores: a required affinity term (Kubernetes' "hard pod
// affinity weight") or any preferred term. Such pods are listed apart in
// NodeInfo so that scoring need not look at every pod.
func (pi *PodInfo) HasScoringAffinity() bool {
	return len(pi.RequiredAffinityTerms) > 0 || len(pi.PreferredAffinityTerms) > 0 || len(pi.PreferredAntiAffinityTerms) > 0
}

// Priority is the pod's priority; 0 when unset.
func (pi *PodInfo) Priority() int32 { return PodPriority(pi.Pod) }

// PodPriority is a pod's priority; 0 when unset.
func PodPriority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

func newAffinityTerm(pod *v1.Pod, t *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("pod %s/%s: affinity term label selector: %w", pod.Namespace, pod.Name, err)
	}
	var nsSel labels.Selector
	if t.NamespaceSelector != nil {
		if nsSel, err = metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
			return AffinityTerm{}, fmt.Errorf("pod %s/%s: affinity term namespace selector: %w", pod.Namespace, pod.Name, err)
		}
	}
	ns := sets.New(t.Namespaces...)
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		ns.Insert(pod.Namespace)
	}
	// matchLabelKeys and mismatchLabelKeys copy the pod's own label values
	// into the selector, as the apiserver does in Kubernetes.
	if len(t.MatchLabelKeys) > 0 || len(t.MismatchLabelKeys) > 0 {
		for _, key := range t.MatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				r, err := labels.NewRequirement(key, selection.In, []string{v})
				if err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		for _, key := range t.MismatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				r, err := labels.NewRequirement(key, selection.NotIn, []string{v})
				if err == nil {
					sel = sel.Add(*r)
				}
			}
		}
	}
	at := AffinityTerm{Namespaces: ns, Selector: sel, TopologyKey: t.TopologyKey, NamespaceSelector: nsSel}
	at.Key = termKey(&at)
	return at, nil
}

func termKey(t *AffinityTerm) string {
	var b strings.Builder
	for _, ns := range sets.List(t.Namespaces) {
		b.WriteString(ns)
		b.WriteByte(',')
	}
	b.WriteByte('|')
	if t.NamespaceSelector != nil {
		b.WriteString("sel:" + t.NamespaceSelector.String())
	}
	b.WriteByte('|')
	b.WriteString(t.Selector.String())
	b.WriteByte('|')
	b.WriteString(t.TopologyKey)
	return b.String()
}

func affinityTerms(pod *v1.Pod, terms []v1.PodAffinityTerm) ([]AffinityTerm, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	out := make([]AffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func weightedAffinityTerms(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm) ([]WeightedAffinityTerm, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	out := make([]WeightedAffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			return nil, err
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: terms[i].Weight})
	}
	return out, nil
}
