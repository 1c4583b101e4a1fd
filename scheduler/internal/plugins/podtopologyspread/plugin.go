// Package podtopologyspread spreads pods across topology domains (nodes,
// zones, any node label): DoNotSchedule constraints are filters — a node
// is rejected when placing the pod there would make its domain exceed the
// least-loaded domain by more than maxSkew — and ScheduleAnyway
// constraints are scores. A pod with no constraints of its own is spread,
// for scoring, by Kubernetes' system defaults (maxSkew 3 per node, 5 per
// zone) among the pods of the same Services, ReplicaSet or StatefulSet,
// which is how Kubernetes spreads a Deployment's replicas.
package podtopologyspread

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"coracle.dev/scheduler/internal/framework"
)

// Name is the plugin's name in profiles and statuses.
const Name = "PodTopologySpread"

// Reasons, as Kubernetes words them.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// systemDefaultConstraints apply, for scoring, to pods without constraints.
var systemDefaultConstraints = []v1.TopologySpreadConstraint{
	{MaxSkew: 3, TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway},
	{MaxSkew: 5, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway},
}

// PodTopologySpread is the plugin.
type PodTopologySpread struct {
	handle framework.Handle
}

var (
	_ framework.PreFilterPlugin     = &PodTopologySpread{}
	_ framework.PreFilterExtensions = &PodTopologySpread{}
	_ framework.FilterPlugin        = &PodTopologySpread{}
	_ framework.PreScorePlugin      = &PodTopologySpread{}
	_ framework.ScorePlugin         = &PodTopologySpread{}
	_ framework.ScoreNormalizer     = &PodTopologySpread{}
	_ framework.EnqueueExtensions   = &PodTopologySpread{}
)

// New builds the plugin.
func New(h framework.Handle) (framework.Plugin, error) { return &PodTopologySpread{handle: h}, nil }

// Name implements framework.Plugin.
func (*PodTopologySpread) Name() string { return Name }

// EventsToRegister: pods coming, going or relabelled change the counts;
// nodes coming, going or relabelled change the domains.
func (*PodTopologySpread) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.AssignedPod, ActionType: framework.Add | framework.Delete | framework.UpdatePodLabel},
		{Resource: framework.Node, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint},
	}
}

// constraint is a TopologySpreadConstraint with its selector parsed.
type constraint struct {
	MaxSkew            int32
	TopologyKey        string
	Selector           labels.Selector
	MinDomains         int32
	NodeAffinityPolicy v1.NodeInclusionPolicy
	NodeTaintsPolicy   v1.NodeInclusionPolicy
}

func buildConstraints(pod *v1.Pod, cs []v1.TopologySpreadConstraint, when v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	var out []constraint
	for _, c := range cs {
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("pod %s: topology spread constraint selector: %w", framework.PodKey(pod), err)
		}
		for _, key := range c.MatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				if r, err := labels.NewRequirement(key, selection.In, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		out = append(out, newConstraint(c, sel))
	}
	return out, nil
}

func newConstraint(c v1.TopologySpreadConstraint, sel labels.Selector) constraint {
	minDomains := int32(1)
	if c.MinDomains != nil {
		minDomains = *c.MinDomains
	}
	affinityPolicy, taintsPolicy := v1.NodeInclusionPolicyHonor, v1.NodeInclusionPolicyIgnore
	if c.NodeAffinityPolicy != nil {
		affinityPolicy = *c.NodeAffinityPolicy
	}
	if c.NodeTaintsPolicy != nil {
		taintsPolicy = *c.NodeTaintsPolicy
	}
	return constraint{
		MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey, Selector: sel, MinDomains: minDomains,
		NodeAffinityPolicy: affinityPolicy, NodeTaintsPolicy: taintsPolicy,
	}
}

// matchesNodeInclusionPolicies reports whether node counts as a domain
// member for c: it matches the pod's required node affinity (when
// honoured) and carries no taint the pod does not tolerate (when
// honoured).
func (c *constraint) matchesNodeInclusionPolicies(pod *v1.Pod, ni *framework.NodeInfo, required nodeaffinity.RequiredNodeAffinity) bool {
	if c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor {
		if ok, _ := required.Match(ni.Node()); !ok {
			return false
		}
	}
	if c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor {
		if _, bad := framework.FindUntoleratedTaint(ni.Taints, pod.Spec.Tolerations, func(t *v1.Taint) bool {
			return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
		}); bad {
			return false
		}
	}
	return true
}

func nodeHasAllKeys(nodeLabels map[string]string, cs []constraint) bool {
	for i := range cs {
		if _, ok := nodeLabels[cs[i].TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts the pods on ni in namespace ns that sel matches,
// leaving out terminating pods as Kubernetes does.
func countMatching(pods []*framework.PodInfo, sel labels.Selector, ns string) int64 {
	var n int64
	for _, p := range pods {
		if p.Pod.DeletionTimestamp != nil || p.Pod.Namespace != ns {
			continue
		}
		if sel.Matches(labels.Set(p.Pod.Labels)) {
			n++
		}
	}
	return n
}

// defaultSelector is the union of the selectors of the Services selecting
// pod and of its controlling ReplicaSet or StatefulSet: the pods Kubernetes
// spreads a pod among by default. Empty when there are none.
func defaultSelector(pod *v1.Pod, l framework.Listers) labels.Selector {
	set := labels.Set{}
	if l.Services != nil {
		if svcs, err := l.Services.Services(pod.Namespace).List(labels.Everything()); err == nil {
			for _, s := range svcs {
				if len(s.Spec.Selector) == 0 {
					continue
				}
				if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
					set = labels.Merge(set, s.Spec.Selector)
				}
			}
		}
	}
	sel := set.AsSelector()
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		return sel
	}
	gv, err := schema.ParseGroupVersion(owner.APIVersion)
	if err != nil || gv.Group != "apps" {
		return sel
	}
	var ls *metav1.LabelSelector
	switch owner.Kind {
	case "ReplicaSet":
		if l.ReplicaSets != nil {
			if rs, err := l.ReplicaSets.ReplicaSets(pod.Namespace).Get(owner.Name); err == nil {
				ls = rs.Spec.Selector
			}
		}
	case "StatefulSet":
		if l.StatefulSets != nil {
			if ss, err := l.StatefulSets.StatefulSets(pod.Namespace).Get(owner.Name); err == nil {
				ls = ss.Spec.Selector
			}
		}
	}
	if ls == nil {
		return sel
	}
	other, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return sel
	}
	if reqs, ok := other.Requirements(); ok {
		sel = sel.Add(reqs...)
	}
	return sel
}
