package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func node(ready corev1.ConditionStatus, heartbeat time.Time) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.NewTime(heartbeat)}}
	}
	return n
}

func lease(renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: renewed}}}
}

func TestHealth(t *testing.T) {
	grace := 40 * time.Second
	tests := []struct {
		name string
		// steps: each observes the node and lease at a time
		steps       []func() (*corev1.Node, *coordinationv1.Lease, time.Time)
		wantUnknown bool
		wantReason  string
	}{
		{"renewed lease keeps the node healthy", []func() (*corev1.Node, *coordinationv1.Lease, time.Time){
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) { return node("True", t0), lease(t0), t0 },
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) {
				return node("True", t0), lease(t0.Add(30 * time.Second)), t0.Add(30 * time.Second)
			},
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) {
				return node("True", t0), lease(t0.Add(60 * time.Second)), t0.Add(65 * time.Second)
			},
		}, false, ""},
		{"lease not renewed past the grace period", []func() (*corev1.Node, *coordinationv1.Lease, time.Time){
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) { return node("True", t0), lease(t0), t0 },
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) {
				return node("True", t0), lease(t0), t0.Add(41 * time.Second)
			},
		}, true, ReasonStatusUnknown},
		{"within the grace period nothing changes", []func() (*corev1.Node, *coordinationv1.Lease, time.Time){
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) { return node("True", t0), lease(t0), t0 },
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) {
				return node("True", t0), lease(t0), t0.Add(39 * time.Second)
			},
		}, false, ""},
		{"a node that never posted status", []func() (*corev1.Node, *coordinationv1.Lease, time.Time){
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) { return node("", t0), nil, t0 },
			func() (*corev1.Node, *coordinationv1.Lease, time.Time) { return node("", t0), nil, t0.Add(time.Minute) },
		}, true, ReasonStatusNeverUpdated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec *Record
			var conds []corev1.NodeCondition
			for _, step := range tt.steps {
				n, l, now := step()
				r := Observe(rec, n, l, now)
				rec = &r
				conds = StaleConditions(n, r, now, grace)
			}
			if (conds != nil) != tt.wantUnknown {
				t.Fatalf("stale conditions = %v, want unknown: %v", conds, tt.wantUnknown)
			}
			for _, c := range conds {
				if c.Type == corev1.NodeReady && (c.Status != corev1.ConditionUnknown || c.Reason != tt.wantReason) {
					t.Errorf("Ready = %s %s, want Unknown %s", c.Status, c.Reason, tt.wantReason)
				}
			}
		})
	}
}

func TestDesiredTaints(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	tests := []struct {
		name        string
		node        *corev1.Node
		wantKeys    []string
		wantChanged bool
	}{
		{"ready node has none", node("True", t0), nil, false},
		{"unknown node is unreachable", node("Unknown", t0),
			[]string{corev1.TaintNodeUnreachable + "/NoSchedule", corev1.TaintNodeUnreachable + "/NoExecute"}, true},
		{"not ready node", node("False", t0),
			[]string{corev1.TaintNodeNotReady + "/NoSchedule", corev1.TaintNodeNotReady + "/NoExecute"}, true},
		{"recovered node loses its taints, keeps others", func() *corev1.Node {
			n := node("True", t0)
			n.Spec.Taints = []corev1.Taint{
				{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier},
				{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule},
			}
			return n
		}(), []string{"dedicated/NoSchedule"}, true},
		{"unschedulable node", func() *corev1.Node {
			n := node("True", t0)
			n.Spec.Unschedulable = true
			return n
		}(), []string{corev1.TaintNodeUnschedulable + "/NoSchedule"}, true},
		{"existing taint keeps its time", func() *corev1.Node {
			n := node("Unknown", t0)
			n.Spec.Taints = []corev1.Taint{
				{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
				{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier},
			}
			return n
		}(), []string{corev1.TaintNodeUnreachable + "/NoSchedule", corev1.TaintNodeUnreachable + "/NoExecute"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			taints, changed := DesiredTaints(tt.node, EvictionAllowed, t0)
			var keys []string
			for _, tn := range taints {
				keys = append(keys, tn.Key+"/"+string(tn.Effect))
				if tn.Effect == corev1.TaintEffectNoExecute && tn.TimeAdded == nil {
					t.Errorf("NoExecute taint without timeAdded")
				}
				if !changed && tn.TimeAdded != nil && !tn.TimeAdded.Equal(&earlier) {
					t.Errorf("timeAdded moved")
				}
			}
			if len(keys) != len(tt.wantKeys) || changed != tt.wantChanged {
				t.Fatalf("taints %v changed %v, want %v %v", keys, changed, tt.wantKeys, tt.wantChanged)
			}
			for i := range keys {
				if keys[i] != tt.wantKeys[i] {
					t.Errorf("taints %v, want %v", keys, tt.wantKeys)
				}
			}
		})
	}
}

func TestZoneStatesAndEviction(t *testing.T) {
	mk := func(name, zone string, ready corev1.ConditionStatus) *corev1.Node {
		n := node(ready, t0)
		n.Name = name
		n.Labels = map[string]string{corev1.LabelTopologyZone: zone}
		return n
	}
	tests := []struct {
		name  string
		nodes []*corev1.Node
		zone  string
		want  ZoneState
		evict Eviction
	}{
		{"one of two down: normal", []*corev1.Node{mk("a", "z", "True"), mk("b", "z", "Unknown")}, "z", Normal, EvictionAllowed},
		{"the only node down: full disruption", []*corev1.Node{mk("a", "z", "Unknown")}, "z", FullDisruption, EvictionOff},
		{"three of four down in a small cluster: paused", []*corev1.Node{mk("a", "z", "True"), mk("b", "z", "Unknown"), mk("c", "z", "Unknown"), mk("d", "z", "False")},
			"z", PartialDisruption, EvictionPaused},
		{"zones are judged apart", []*corev1.Node{mk("a", "z1", "True"), mk("b", "z2", "Unknown")}, "z2", FullDisruption, EvictionOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ZoneStates(tt.nodes)[tt.zone]
			if got != tt.want || EvictionFor(got, len(tt.nodes)) != tt.evict {
				t.Errorf("state %s eviction %d, want %s %d", got, EvictionFor(got, len(tt.nodes)), tt.want, tt.evict)
			}
		})
	}
}

func TestDesiredTaintsUnderDisruption(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	tainted := node("Unknown", t0)
	tainted.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}}
	count := func(ts []corev1.Taint) int {
		n := 0
		for _, x := range ts {
			if x.Effect == corev1.TaintEffectNoExecute {
				n++
			}
		}
		return n
	}
	if ts, _ := DesiredTaints(node("Unknown", t0), EvictionPaused, t0); count(ts) != 0 {
		t.Errorf("paused eviction added a NoExecute taint: %v", ts)
	}
	if ts, _ := DesiredTaints(tainted, EvictionPaused, t0); count(ts) != 1 {
		t.Errorf("paused eviction removed a NoExecute taint: %v", ts)
	}
	if ts, changed := DesiredTaints(tainted, EvictionOff, t0); count(ts) != 0 || !changed {
		t.Errorf("full disruption kept a NoExecute taint: %v", ts)
	}
}
