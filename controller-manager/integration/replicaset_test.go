package integration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func (e *env) createReplicaSet(ns, name string, replicas int32, minReady int32) *appsv1.ReplicaSet {
	e.t.Helper()
	lbls := map[string]string{"app": name}
	rs, err := e.client.AppsV1().ReplicaSets(ns).Create(context.Background(), &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas), MinReadySeconds: minReady,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: podTemplate(lbls),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create replicaset: %v", err)
	}
	return rs
}

func (e *env) scaleReplicaSet(ns, name string, replicas int32) {
	e.t.Helper()
	patch := []byte(`{"spec":{"replicas":` + itoa(int(replicas)) + `}}`)
	if _, err := e.client.AppsV1().ReplicaSets(ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.t.Fatalf("scale replicaset: %v", err)
	}
}

// waitReplicaSet waits for the status to show want ready and available
// replicas of the current generation.
func (e *env) waitReplicaSet(ns, name string, want int32) *appsv1.ReplicaSet {
	e.t.Helper()
	var rs *appsv1.ReplicaSet
	eventually(e.t, 60*time.Second, "replicaset "+name+" at "+itoa(int(want)), func() (bool, error) {
		var err error
		rs, err = e.client.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := rs.Status
		return st.ObservedGeneration == rs.Generation && st.Replicas == want && st.ReadyReplicas == want &&
			st.AvailableReplicas == want && st.FullyLabeledReplicas == want &&
			len(activePods(e.pods(ns, map[string]string{"app": name}))) == int(want), nil
	})
	return rs
}

func TestReplicaSet(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	k := startKubelet(e, "node-a", "node-b")
	ns := e.namespace("rs")
	lbls := map[string]string{"app": "web"}

	// An orphan that matches is adopted rather than duplicated.
	tmpl := podTemplate(lbls)
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: lbls}, Spec: tmpl.Spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := e.createReplicaSet(ns, "web", 3, 0)
	e.waitReplicaSet(ns, "web", 3)
	orphan, err := e.client.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(orphan); ref == nil || ref.UID != rs.UID {
		t.Errorf("orphan not adopted: owner references %v", orphan.OwnerReferences)
	}
	// Steady: never more pods than replicas.
	for i := 0; i < 10; i++ {
		if n := len(activePods(e.pods(ns, lbls))); n != 3 {
			t.Fatalf("%d pods at steady state, want 3", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.waitEvent(ns, "web", "SuccessfulCreate")

	t.Run("scale up and down, not-ready pods deleted first", func(t *testing.T) {
		e.scaleReplicaSet(ns, "web", 5)
		e.waitReplicaSet(ns, "web", 5)
		pods := activePods(e.pods(ns, lbls))
		victim := pods[0].Name
		k.setReady(ns, victim, false)
		eventually(t, 30*time.Second, "ready count drops", func() (bool, error) {
			rs, err := e.client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && rs.Status.ReadyReplicas == 4, err
		})
		e.scaleReplicaSet(ns, "web", 4)
		e.waitReplicaSet(ns, "web", 4)
		for _, p := range activePods(e.pods(ns, lbls)) {
			if p.Name == victim {
				t.Errorf("not-ready pod %s kept while ready pods were deleted", victim)
			}
		}
		e.waitEvent(ns, "web", "SuccessfulDelete")
	})

	t.Run("a deleted pod is replaced", func(t *testing.T) {
		pods := activePods(e.pods(ns, lbls))
		if err := e.client.CoreV1().Pods(ns).Delete(ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "replacement", func() (bool, error) {
			cur := activePods(e.pods(ns, lbls))
			for _, p := range cur {
				if p.UID == pods[0].UID {
					return false, nil
				}
			}
			return len(cur) == 4, nil
		})
		e.waitReplicaSet(ns, "web", 4)
	})

	t.Run("a relabelled pod is released and replaced", func(t *testing.T) {
		pods := activePods(e.pods(ns, lbls))
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": "debug"}}})
		if _, err := e.client.CoreV1().Pods(ns).Patch(ctx, pods[0].Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "released pod", func() (bool, error) {
			p, err := e.client.CoreV1().Pods(ns).Get(ctx, pods[0].Name, metav1.GetOptions{})
			return err == nil && metav1.GetControllerOf(p) == nil, err
		})
		e.waitReplicaSet(ns, "web", 4)
	})

	t.Run("minReadySeconds delays availability", func(t *testing.T) {
		e.createReplicaSet(ns, "slow", 2, 2)
		eventually(t, 30*time.Second, "ready but not yet available", func() (bool, error) {
			rs, err := e.client.AppsV1().ReplicaSets(ns).Get(ctx, "slow", metav1.GetOptions{})
			return err == nil && rs.Status.ReadyReplicas == 2 && rs.Status.AvailableReplicas == 0, err
		})
		e.waitReplicaSet(ns, "slow", 2)
	})

	t.Run("cascading delete removes the pods", func(t *testing.T) {
		if err := e.client.AppsV1().ReplicaSets(ns).Delete(ctx, "slow", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "pods of slow gone", func() (bool, error) {
			return len(e.pods(ns, map[string]string{"app": "slow"})) == 0, nil
		})
	})

	t.Run("orphaning delete keeps the pods", func(t *testing.T) {
		if err := e.client.AppsV1().ReplicaSets(ns).Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "replicaset gone", func() (bool, error) {
			_, err := e.client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		pods := activePods(e.pods(ns, lbls))
		if len(pods) != 4 {
			t.Fatalf("%d pods after orphaning delete, want 4", len(pods))
		}
		for _, p := range pods {
			if len(p.OwnerReferences) != 0 {
				t.Errorf("pod %s still owned: %v", p.Name, p.OwnerReferences)
			}
		}
	})
}
