package disruption

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2030, time.May, 1, 12, 0, 0, 0, time.UTC)

func intOrString(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

func TestNeedsScaleAndDesired(t *testing.T) {
	tests := []struct {
		name              string
		min, max          string
		pods              int
		scale             int32
		needsScale        bool
		expected, desired int32
		wantErr           bool
	}{
		{"integer minAvailable counts the pods there are", "2", "", 3, 0, false, 3, 2, false},
		{"integer minAvailable above the pods", "5", "", 3, 0, false, 3, 5, false},
		{"percentage minAvailable rounds up", "50%", "", 3, 3, true, 3, 2, false},
		{"percentage minAvailable of the scale, not the pods", "50%", "", 1, 4, true, 4, 2, false},
		{"integer maxUnavailable", "", "1", 3, 3, true, 3, 2, false},
		{"percentage maxUnavailable rounds up", "", "50%", 3, 3, true, 3, 1, false},
		{"maxUnavailable beyond the scale desires none", "", "5", 3, 3, true, 3, 0, false},
		{"maxUnavailable 0 desires all", "", "0", 3, 3, true, 3, 3, false},
		{"neither bound expects nothing", "", "", 3, 0, false, 0, 0, false},
		{"a malformed percentage is an error", "", "half", 3, 3, true, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var spec policyv1.PodDisruptionBudgetSpec
			if tt.min != "" {
				spec.MinAvailable = intOrString(tt.min)
			}
			if tt.max != "" {
				spec.MaxUnavailable = intOrString(tt.max)
			}
			if got := NeedsScale(&spec); got != tt.needsScale {
				t.Errorf("NeedsScale = %v, want %v", got, tt.needsScale)
			}
			expected, desired, err := Desired(&spec, tt.pods, tt.scale)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if !tt.wantErr && (expected != tt.expected || desired != tt.desired) {
				t.Errorf("expected %d desired %d, want %d %d", expected, desired, tt.expected, tt.desired)
			}
		})
	}
}

func pod(name string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func deleting(p *corev1.Pod) *corev1.Pod {
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	return p
}

func budget(disrupted map[string]metav1.Time) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 3},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1))},
		Status:     policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptedPods: disrupted},
	}
}

func TestDecide(t *testing.T) {
	recent, old := metav1.NewTime(t0.Add(-30*time.Second)), metav1.NewTime(t0.Add(-3*time.Minute))
	tests := []struct {
		name              string
		pdb               *policyv1.PodDisruptionBudget
		pods              []*corev1.Pod
		expected, desired int32
		healthy, allowed  int32
		disrupted         []string
		recheck           time.Time
		notDeleted        []string
	}{
		{name: "ready pods beyond the desired are disruptions", pdb: budget(nil),
			pods: []*corev1.Pod{pod("a", true), pod("b", true), pod("c", true)}, expected: 3, desired: 1,
			healthy: 3, allowed: 2},
		{name: "unready and deleting pods are not healthy", pdb: budget(nil),
			pods: []*corev1.Pod{pod("a", true), pod("b", false), deleting(pod("c", true))}, expected: 3, desired: 1,
			healthy: 1, allowed: 0},
		{name: "fewer healthy than desired allows none", pdb: budget(nil),
			pods: []*corev1.Pod{pod("a", true)}, expected: 1, desired: 2,
			healthy: 1, allowed: 0},
		{name: "no expected pods allows none", pdb: budget(nil),
			pods: []*corev1.Pod{pod("a", true), pod("b", true)}, expected: 0, desired: 0,
			healthy: 2, allowed: 0},
		{name: "a recent eviction's pod is not healthy and is rechecked when it expires",
			pdb:  budget(map[string]metav1.Time{"a": recent}),
			pods: []*corev1.Pod{pod("a", true), pod("b", true)}, expected: 2, desired: 1,
			healthy: 1, allowed: 0, disrupted: []string{"a"}, recheck: recent.Add(DeletionTimeout)},
		{name: "an expired eviction's pod that stayed counts again", pdb: budget(map[string]metav1.Time{"a": old}),
			pods: []*corev1.Pod{pod("a", true), pod("b", true)}, expected: 2, desired: 1,
			healthy: 2, allowed: 1, notDeleted: []string{"a"}},
		{name: "entries of pods gone or being deleted are dropped",
			pdb:  budget(map[string]metav1.Time{"gone": recent, "b": recent}),
			pods: []*corev1.Pod{pod("a", true), deleting(pod("b", true))}, expected: 2, desired: 1,
			healthy: 1, allowed: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.pdb, tt.pods, tt.expected, tt.desired, t0)
			st := p.Status
			if !p.Update {
				t.Fatalf("no update of a status computed for an older generation")
			}
			if st.CurrentHealthy != tt.healthy || st.DisruptionsAllowed != tt.allowed || st.DesiredHealthy != tt.desired ||
				st.ExpectedPods != tt.expected || st.ObservedGeneration != 3 {
				t.Errorf("status %+v, want healthy %d allowed %d", st, tt.healthy, tt.allowed)
			}
			if len(st.DisruptedPods) != len(tt.disrupted) {
				t.Errorf("disruptedPods %v, want %v", st.DisruptedPods, tt.disrupted)
			}
			for _, name := range tt.disrupted {
				if _, ok := st.DisruptedPods[name]; !ok {
					t.Errorf("disruptedPods %v lacks %s", st.DisruptedPods, name)
				}
			}
			if !p.Recheck.Equal(tt.recheck) {
				t.Errorf("recheck %v, want %v", p.Recheck, tt.recheck)
			}
			if len(p.NotDeleted) != len(tt.notDeleted) || (len(tt.notDeleted) > 0 && p.NotDeleted[0] != tt.notDeleted[0]) {
				t.Errorf("notDeleted %v, want %v", p.NotDeleted, tt.notDeleted)
			}
			c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
			wantStatus, wantReason := metav1.ConditionFalse, policyv1.InsufficientPodsReason
			if tt.allowed > 0 {
				wantStatus, wantReason = metav1.ConditionTrue, policyv1.SufficientPodsReason
			}
			if c == nil || c.Status != wantStatus || c.Reason != wantReason || c.ObservedGeneration != 3 {
				t.Errorf("DisruptionAllowed condition %+v, want %s %s", c, wantStatus, wantReason)
			}
		})
	}
}

func TestDecideIsIdempotent(t *testing.T) {
	pdb := budget(nil)
	pods := []*corev1.Pod{pod("a", true), pod("b", true)}
	first := Decide(pdb, pods, 2, 1, t0)
	pdb.Status = first.Status
	if again := Decide(pdb, pods, 2, 1, t0.Add(time.Minute)); again.Update {
		t.Errorf("a second sync of an unchanged budget writes %+v", again.Status)
	}
	pods[1].Status.Conditions[0].Status = corev1.ConditionFalse
	if changed := Decide(pdb, pods, 2, 1, t0); !changed.Update || changed.Status.DisruptionsAllowed != 0 {
		t.Errorf("a pod turning unready: %+v", changed)
	}
}

func TestFailSafe(t *testing.T) {
	pdb := budget(nil)
	pdb.Status.DisruptionsAllowed = 3
	st := FailSafe(pdb, errors.New(`found no controllers for pod "a"`))
	c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
	if st.DisruptionsAllowed != 0 || c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.SyncFailedReason ||
		c.Message != `found no controllers for pod "a"` {
		t.Errorf("fail-safe status %+v", st)
	}
	if pdb.Status.DisruptionsAllowed != 3 {
		t.Errorf("FailSafe changed the budget it was given")
	}
}

func TestStaleDisruption(t *testing.T) {
	marked := func(reason string, status corev1.ConditionStatus, since time.Duration) *corev1.Pod {
		p := pod("a", true)
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: status,
			Reason: reason, LastTransitionTime: metav1.NewTime(t0.Add(-since))})
		return p
	}
	finished := marked("EvictionByEvictionAPI", corev1.ConditionTrue, time.Hour)
	finished.Status.Phase = corev1.PodSucceeded
	tests := []struct {
		name  string
		pod   *corev1.Pod
		stale bool
		after time.Duration
	}{
		{"no condition", pod("a", true), false, 0},
		{"an eviction's condition a minute old", marked("EvictionByEvictionAPI", corev1.ConditionTrue, time.Minute), true, time.Minute},
		{"an eviction's condition past the timeout", marked("EvictionByEvictionAPI", corev1.ConditionTrue, 5*time.Minute), true, 0},
		{"a False condition", marked("", corev1.ConditionFalse, time.Hour), false, 0},
		{"the kubelet's condition", marked(corev1.PodReasonTerminationByKubelet, corev1.ConditionTrue, time.Hour), false, 0},
		{"a pod being deleted", deleting(marked("EvictionByEvictionAPI", corev1.ConditionTrue, time.Hour)), false, 0},
		{"a finished pod", finished, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stale, after := StaleDisruption(tt.pod, t0)
			if stale != tt.stale || after != tt.after {
				t.Errorf("StaleDisruption = %v %v, want %v %v", stale, after, tt.stale, tt.after)
			}
		})
	}
}
