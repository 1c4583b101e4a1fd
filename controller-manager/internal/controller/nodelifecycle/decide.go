package nodelifecycle

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons and messages of conditions the controller sets, as
// Kubernetes writes them.
const (
	ReasonStatusUnknown      = "NodeStatusUnknown"
	MessageStatusUnknown     = "Kubelet stopped posting node status."
	ReasonStatusNeverUpdated = "NodeStatusNeverUpdated"
	MessageNeverUpdated      = "Kubelet never posted node status."
)

// Record is what the controller remembers of a node between looks: when
// it last saw the kubelet alive (a new heartbeat in the Ready condition
// or a renewal of the node's Lease), by its own clock.
type Record struct {
	ProbeTime     time.Time
	Heartbeat     metav1.Time
	LeaseRenewed  metav1.MicroTime
	seenCondition bool
}

// Observe folds what the node and its Lease show now into the record.
// A node seen for the first time counts as alive now: after a restart
// of the controller the grace period starts over, as in Kubernetes.
func Observe(rec *Record, node *corev1.Node, lease *coordinationv1.Lease, now time.Time) Record {
	ready := readyCondition(node)
	var next Record
	if rec == nil {
		next = Record{ProbeTime: now}
	} else {
		next = *rec
	}
	if ready != nil {
		if rec == nil || !ready.LastHeartbeatTime.Equal(&rec.Heartbeat) || !rec.seenCondition {
			if rec != nil {
				next.ProbeTime = now
			}
			next.Heartbeat = ready.LastHeartbeatTime
			next.seenCondition = true
		}
	}
	if lease != nil && lease.Spec.RenewTime != nil {
		if rec == nil || lease.Spec.RenewTime.After(rec.LeaseRenewed.Time) {
			if rec != nil {
				next.ProbeTime = now
			}
			next.LeaseRenewed = *lease.Spec.RenewTime
		}
	}
	return next
}

// watchedConditions are set to Unknown when a node goes silent.
var watchedConditions = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

// StaleConditions is the pure part of node health: if the kubelet was
// last seen alive more than grace ago, the conditions the node's status
// should have (Ready and the pressure conditions Unknown); nil when the
// status is fine as it is.
func StaleConditions(node *corev1.Node, rec Record, now time.Time, grace time.Duration) []corev1.NodeCondition {
	if !now.After(rec.ProbeTime.Add(grace)) {
		return nil
	}
	conds := append([]corev1.NodeCondition(nil), node.Status.Conditions...)
	changed := false
	t := metav1.NewTime(now)
	for _, ct := range watchedConditions {
		found := false
		for i := range conds {
			c := &conds[i]
			if c.Type != ct {
				continue
			}
			found = true
			if c.Status != corev1.ConditionUnknown {
				c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, ReasonStatusUnknown, MessageStatusUnknown, t
				changed = true
			}
		}
		if !found {
			conds = append(conds, corev1.NodeCondition{
				Type: ct, Status: corev1.ConditionUnknown, Reason: ReasonStatusNeverUpdated, Message: MessageNeverUpdated,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: t,
			})
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return conds
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

func conditionStatus(node *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// managedTaints are the taints this controller owns on nodes.
var managedTaints = map[string]bool{
	corev1.TaintNodeNotReady:           true,
	corev1.TaintNodeUnreachable:        true,
	corev1.TaintNodeUnschedulable:      true,
	corev1.TaintNodeMemoryPressure:     true,
	corev1.TaintNodeDiskPressure:       true,
	corev1.TaintNodePIDPressure:        true,
	corev1.TaintNodeNetworkUnavailable: true,
}

// ZoneState is the health of a zone's nodes, as Kubernetes judges it to
// decide whether to evict.
type ZoneState string

// Zone states.
const (
	// Normal: evict from unhealthy nodes.
	Normal ZoneState = "Normal"
	// PartialDisruption: more than 55% of more than two nodes unhealthy;
	// in a cluster of at most 50 nodes Kubernetes then stops evicting.
	PartialDisruption ZoneState = "PartialDisruption"
	// FullDisruption: no node ready. Likely the control plane's network,
	// not the nodes: no evictions, and the NoExecute taints come off.
	FullDisruption ZoneState = "FullDisruption"
)

// Kubernetes' --unhealthy-zone-threshold and --large-cluster-size-threshold.
const (
	unhealthyZoneThreshold    = 0.55
	largeClusterSizeThreshold = 50
)

// ZoneStates judges each zone (topology.kubernetes.io/zone; nodes without
// it form the zone "") from its nodes' Ready conditions.
func ZoneStates(nodes []*corev1.Node) map[string]ZoneState {
	ready, notReady := map[string]int{}, map[string]int{}
	for _, n := range nodes {
		z := n.Labels[corev1.LabelTopologyZone]
		if conditionStatus(n, corev1.NodeReady) == corev1.ConditionTrue {
			ready[z]++
		} else {
			notReady[z]++
		}
	}
	out := map[string]ZoneState{}
	for _, n := range nodes {
		z := n.Labels[corev1.LabelTopologyZone]
		switch r, u := ready[z], notReady[z]; {
		case r == 0 && u > 0:
			out[z] = FullDisruption
		case u > 2 && float64(u)/float64(u+r) >= unhealthyZoneThreshold:
			out[z] = PartialDisruption
		default:
			out[z] = Normal
		}
	}
	return out
}

// Eviction tells DesiredTaints what the node's zone allows.
type Eviction int

// Eviction modes.
const (
	// EvictionAllowed: NoExecute taints as the conditions say.
	EvictionAllowed Eviction = iota
	// EvictionPaused: no new NoExecute taint; existing ones stay.
	EvictionPaused
	// EvictionOff: no NoExecute taints at all.
	EvictionOff
)

// EvictionFor is the eviction mode of a node in a zone in state, in a
// cluster of size nodes, as Kubernetes' rate limiters amount to.
func EvictionFor(state ZoneState, size int) Eviction {
	switch state {
	case FullDisruption:
		return EvictionOff
	case PartialDisruption:
		if size <= largeClusterSizeThreshold {
			return EvictionPaused
		}
	}
	return EvictionAllowed
}

// DesiredTaints is the pure part of tainting: the node's taints with the
// controller's own brought in line with its conditions — not-ready or
// unreachable, NoExecute and NoSchedule, when Ready is False or Unknown;
// NoSchedule for unschedulable, pressure and network-unavailable. Taints
// of others are kept, and so is the timeAdded of a NoExecute taint that
// stays. eviction limits the NoExecute taints. The second result reports
// whether anything changed.
func DesiredTaints(node *corev1.Node, eviction Eviction, now time.Time) ([]corev1.Taint, bool) {
	want := map[string][]corev1.TaintEffect{}
	switch conditionStatus(node, corev1.NodeReady) {
	case corev1.ConditionFalse:
		want[corev1.TaintNodeNotReady] = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute}
	case corev1.ConditionUnknown:
		want[corev1.TaintNodeUnreachable] = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute}
	}
	if node.Spec.Unschedulable {
		want[corev1.TaintNodeUnschedulable] = []corev1.TaintEffect{corev1.TaintEffectNoSchedule}
	}
	for ct, key := range map[corev1.NodeConditionType]string{
		corev1.NodeMemoryPressure:     corev1.TaintNodeMemoryPressure,
		corev1.NodeDiskPressure:       corev1.TaintNodeDiskPressure,
		corev1.NodePIDPressure:        corev1.TaintNodePIDPressure,
		corev1.NodeNetworkUnavailable: corev1.TaintNodeNetworkUnavailable,
	} {
		if conditionStatus(node, ct) == corev1.ConditionTrue {
			want[key] = []corev1.TaintEffect{corev1.TaintEffectNoSchedule}
		}
	}
	has := func(key string, effect corev1.TaintEffect) bool {
		for _, e := range want[key] {
			if e == effect {
				return true
			}
		}
		return false
	}
	var out []corev1.Taint
	present := map[string]bool{}
	changed := false
	for _, t := range node.Spec.Taints {
		if managedTaints[t.Key] && t.Effect == corev1.TaintEffectNoExecute && eviction == EvictionPaused && has(t.Key, t.Effect) {
			present[t.Key+"/"+string(t.Effect)] = true
			out = append(out, t)
			continue
		}
		if managedTaints[t.Key] && (!has(t.Key, t.Effect) || t.Effect == corev1.TaintEffectNoExecute && eviction == EvictionOff) {
			changed = true
			continue
		}
		if managedTaints[t.Key] {
			present[t.Key+"/"+string(t.Effect)] = true
		}
		out = append(out, t)
	}
	added := metav1.NewTime(now)
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeUnschedulable,
		corev1.TaintNodeMemoryPressure, corev1.TaintNodeDiskPressure, corev1.TaintNodePIDPressure, corev1.TaintNodeNetworkUnavailable} {
		for _, effect := range want[key] {
			if present[key+"/"+string(effect)] || effect == corev1.TaintEffectNoExecute && eviction != EvictionAllowed {
				continue
			}
			t := corev1.Taint{Key: key, Effect: effect}
			if effect == corev1.TaintEffectNoExecute {
				t.TimeAdded = &added
			}
			out = append(out, t)
			changed = true
		}
	}
	return out, changed
}
