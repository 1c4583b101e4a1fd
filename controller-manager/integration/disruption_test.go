package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/disruption"
	"coracle.dev/controller-manager/internal/controller/replicaset"
)

// waitBudget waits until the budget's status is computed for its current
// spec and cond holds for it.
func (e *env) waitBudget(ns, name, what string, cond func(st policyv1.PodDisruptionBudgetStatus) bool) *policyv1.PodDisruptionBudget {
	e.t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	eventually(e.t, 60*time.Second, "pdb "+name+": "+what, func() (bool, error) {
		var err error
		pdb, err = e.client.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pdb.Status.ObservedGeneration == pdb.Generation && cond(pdb.Status), nil
	})
	return pdb
}

func counts(expected, current, desired, allowed int32) func(policyv1.PodDisruptionBudgetStatus) bool {
	return func(st policyv1.PodDisruptionBudgetStatus) bool {
		return st.ExpectedPods == expected && st.CurrentHealthy == current && st.DesiredHealthy == desired && st.DisruptionsAllowed == allowed
	}
}

// TestDisruptionController: the controller computes a budget's status for
// a ReplicaSet's pods — a percentage of the ReplicaSet's scale — the
// eviction handler charges it, and the controller forgets the eviction
// once the pod is gone and counts its replacement.
func TestDisruptionController(t *testing.T) {
	e := start(t, withControllers(replicaset.Name, disruption.Name))
	ctx := e.ctx()
	startKubelet(e, "node-a")
	ns := e.namespace("pdb")
	e.createReplicaSet(ns, "web", 3, 0)
	e.waitReplicaSet(ns, "web", 3)

	pdbs := e.client.PolicyV1().PodDisruptionBudgets(ns)
	_, err := pdbs.Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromString("50%")),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 50% of the ReplicaSet's 3 rounds up to 2 that must stay.
	pdb := e.waitBudget(ns, "web", "3 expected, 3 healthy, 2 desired, 1 allowed", counts(3, 3, 2, 1))
	if c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != policyv1.SufficientPodsReason {
		t.Errorf("DisruptionAllowed condition %+v", c)
	}

	pods := activePods(e.pods(ns, map[string]string{"app": "web"}))
	evict := func(p corev1.Pod) error {
		return e.client.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns}})
	}
	if err := evict(pods[0]); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	// The eviction spent the one disruption: the next is refused until
	// the replacement is ready.
	if err := evict(pods[1]); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: %v, want 429", err)
	}
	e.waitBudget(ns, "web", "the evicted pod forgotten, its replacement counted", func(st policyv1.PodDisruptionBudgetStatus) bool {
		_, evicted := st.DisruptedPods[pods[0].Name]
		return counts(3, 3, 2, 1)(st) && !evicted
	})
	if _, err := e.client.CoreV1().Pods(ns).Get(ctx, pods[0].Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("evicted pod: %v, want it gone", err)
	}

	// A stricter budget is recomputed for its new generation.
	pdb, err = pdbs.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Spec.MinAvailable = ptr.To(intstr.FromInt32(3))
	if _, err := pdbs.Update(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb = e.waitBudget(ns, "web", "3 desired, none allowed", counts(3, 3, 3, 0))
	if c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition); c == nil ||
		c.Status != metav1.ConditionFalse || c.Reason != policyv1.InsufficientPodsReason {
		t.Errorf("DisruptionAllowed condition %+v", c)
	}
	if err := evict(pods[1]); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction under the stricter budget: %v, want 429", err)
	}
}

// TestDisruptionControllerFailsSafe: a budget whose percentage cannot be
// worked out (a pod's controller is not found, even through the scale
// subresource) allows no disruption and says why in its condition. The
// controller runs as its own ServiceAccount, as make up runs it: the
// bootstrap policy's disruption-controller role must allow all of it.
func TestDisruptionControllerFailsSafe(t *testing.T) {
	e := startServer(t)
	e.cm = e.startManager(e.withServiceAccountCredentials(), withControllers(disruption.Name))
	ctx := e.ctx()
	ns := e.namespace("pdb-failsafe")
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphaned", Labels: map[string]string{"app": "db"}, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "gone", UID: "0b5c1c1e-0000-0000-0000-000000000000", Controller: ptr.To(true),
		}}},
		Spec: podTemplate(map[string]string{"app": "db"}).Spec,
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromString("50%")),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a SyncFailed condition", func() (bool, error) {
		pdb, err := e.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == policyv1.SyncFailedReason &&
			c.Message == `found no controllers for pod "orphaned"` && pdb.Status.DisruptionsAllowed == 0, nil
	})
}
