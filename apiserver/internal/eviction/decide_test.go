package eviction

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2030, time.May, 1, 12, 0, 0, 0, time.UTC)

// newPod is a running pod of app=web in ns, ready or not.
func newPod(name string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}, UID: types.UID("uid-" + name), ResourceVersion: "10"},
		Status:     corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

// newBudget is a budget over app=web in ns whose status the controller
// has computed for its current spec.
func newBudget(name string, allowed, current, desired int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: 2, ResourceVersion: "5"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(desired)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
		Status: policyv1.PodDisruptionBudgetStatus{
			ObservedGeneration: 2, DisruptionsAllowed: allowed, CurrentHealthy: current, DesiredHealthy: desired, ExpectedPods: current,
		},
	}
}

func TestCanIgnoreBudgets(t *testing.T) {
	deleting := newPod("a", corev1.PodRunning, true)
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	tests := []struct {
		name          string
		pod           *corev1.Pod
		ignore, guard bool
	}{
		{"a running pod asks its budget", newPod("a", corev1.PodRunning, true), false, true},
		{"an unknown phase asks its budget", newPod("a", corev1.PodUnknown, false), false, true},
		{"a succeeded pod goes unguarded", newPod("a", corev1.PodSucceeded, false), true, false},
		{"a failed pod goes unguarded", newPod("a", corev1.PodFailed, false), true, false},
		{"a pending pod goes, guarded by its version", newPod("a", corev1.PodPending, false), true, true},
		{"a pod being deleted goes unguarded", deleting, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanIgnoreBudgets(tt.pod); got != tt.ignore {
				t.Errorf("CanIgnoreBudgets = %v, want %v", got, tt.ignore)
			}
			if got := enforceResourceVersion(tt.pod); got != tt.guard {
				t.Errorf("enforceResourceVersion = %v, want %v", got, tt.guard)
			}
		})
	}
}

func TestCovering(t *testing.T) {
	pod := newPod("web-1", corev1.PodRunning, true)
	other := newBudget("other-namespace", 1, 1, 1)
	other.Namespace = "elsewhere"
	db := newBudget("db", 1, 1, 1)
	db.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	none := newBudget("nil-selector", 1, 1, 1)
	none.Spec.Selector = nil
	all := newBudget("empty-selector", 1, 1, 1)
	all.Spec.Selector = &metav1.LabelSelector{}
	broken := newBudget("broken", 1, 1, 1)
	broken.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
	web := newBudget("web", 1, 1, 1)

	got := Covering(pod, []*policyv1.PodDisruptionBudget{other, db, none, all, broken, web})
	var names []string
	for _, b := range got {
		names = append(names, b.Name)
	}
	// A nil selector matches nothing, an empty one everything; another
	// namespace's budget and one whose selector does not parse cover
	// nothing.
	if len(names) != 2 || names[0] != "empty-selector" || names[1] != "web" {
		t.Errorf("covering = %v, want [empty-selector web]", names)
	}
}

func TestUnhealthyMayGo(t *testing.T) {
	always := func(p *policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
		p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
		return p
	}
	ifHealthy := func(p *policyv1.PodDisruptionBudget) *policyv1.PodDisruptionBudget {
		p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.IfHealthyBudget)
		return p
	}
	tests := []struct {
		name string
		pdb  *policyv1.PodDisruptionBudget
		want bool
	}{
		{"healthy budget, default policy", newBudget("b", 0, 2, 2), true},
		{"unhealthy budget, default policy", newBudget("b", 0, 1, 2), false},
		{"a budget needing no pod protects nothing unhealthy", newBudget("b", 0, 0, 0), false},
		{"unhealthy budget, IfHealthyBudget", ifHealthy(newBudget("b", 0, 1, 2)), false},
		{"healthy budget, IfHealthyBudget", ifHealthy(newBudget("b", 1, 3, 2)), true},
		{"unhealthy budget, AlwaysAllow", always(newBudget("b", 0, 0, 2)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnhealthyMayGo(tt.pdb); got != tt.want {
				t.Errorf("UnhealthyMayGo = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCharge(t *testing.T) {
	stale := newBudget("web", 1, 2, 1)
	stale.Generation = 3
	negative := newBudget("web", -1, 0, 1)
	crowded := newBudget("web", 1, 2, 1)
	crowded.Status.DisruptedPods = map[string]metav1.Time{}
	for i := 0; i <= MaxDisruptedPods; i++ {
		crowded.Status.DisruptedPods["pod-"+strconv.Itoa(i)] = metav1.NewTime(t0)
	}
	syncFailed := newBudget("web", 0, 3, 1)
	syncFailed.Status.Conditions = []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.SyncFailedReason, Message: "found no controllers for pod \"web-1\""}}
	otherReason := newBudget("web", 0, 3, 1)
	otherReason.Status.Conditions = []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: "Paused", Message: "maintenance"}}

	tests := []struct {
		name  string
		pdb   *policyv1.PodDisruptionBudget
		code  int32
		cause string
	}{
		{"a budget with room allows", newBudget("web", 2, 3, 1), 0, ""},
		{"a status older than the spec is a 429", stale, http.StatusTooManyRequests,
			"The disruption budget web is still being processed by the server."},
		{"a spent budget is a 429 naming the healthy pods", newBudget("web", 0, 1, 1), http.StatusTooManyRequests,
			"The disruption budget web needs 1 healthy pods and has 1 currently"},
		{"a failed sync is named first", syncFailed, http.StatusTooManyRequests,
			"The disruption budget web does not allow evicting pods currently because it failed sync: found no controllers for pod \"web-1\""},
		{"another false condition is named with its reason", otherReason, http.StatusTooManyRequests,
			"The disruption budget web does not allow evicting pods currently (Paused): maintenance"},
		{"a spent budget with enough healthy pods says only no", newBudget("web", 0, 3, 1), http.StatusTooManyRequests,
			"The disruption budget web does not allow evicting pods currently"},
		{"a negative allowance is forbidden", negative, http.StatusForbidden,
			"The disruption budget web does not allow evicting pods currently: pdb disruptions allowed is negative"},
		{"too many unconfirmed evictions are forbidden", crowded, http.StatusForbidden,
			"The disruption budget web does not allow evicting pods currently: too many pending evictions not confirmed by PDB controller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.pdb.DeepCopy()
			got, err := Charge(tt.pdb, "web-1", t0)
			if !equality.Semantic.DeepEqual(before, tt.pdb) {
				t.Errorf("Charge changed the budget it was given")
			}
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got.Status.DisruptionsAllowed != before.Status.DisruptionsAllowed-1 || !got.Status.DisruptedPods["web-1"].Time.Equal(t0) {
					t.Errorf("charged status %+v", got.Status)
				}
				return
			}
			wantRefusal(t, err, tt.code, tt.cause)
		})
	}
}

func TestChargingTheLastDisruptionSetsTheCondition(t *testing.T) {
	got, err := Charge(newBudget("web", 1, 2, 1), "web-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if got.Status.DisruptionsAllowed != 0 || c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.InsufficientPodsReason {
		t.Errorf("status after the last disruption: %+v", got.Status)
	}
}

// wantRefusal fails t unless err is a status error of code with a
// DisruptionBudget cause saying cause.
func wantRefusal(t *testing.T, err error, code int32, cause string) {
	t.Helper()
	var st apierrors.APIStatus
	if err == nil || !errors.As(err, &st) {
		t.Fatalf("error %v, want a %d", err, code)
	}
	s := st.Status()
	if s.Code != code {
		t.Fatalf("code %d (%s), want %d", s.Code, s.Message, code)
	}
	if code == http.StatusTooManyRequests && s.Message != tooManyRequestsMessage {
		t.Errorf("message %q", s.Message)
	}
	if s.Details == nil || len(s.Details.Causes) != 1 || s.Details.Causes[0].Type != policyv1.DisruptionBudgetCause || s.Details.Causes[0].Message != cause {
		t.Errorf("causes %+v, want %q", s.Details, cause)
	}
}
