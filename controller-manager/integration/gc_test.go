package integration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/garbagecollector"
)

func (e *env) configMap(ns, name string, finalizers []string, owners ...*corev1.ConfigMap) *corev1.ConfigMap {
	e.t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers}}
	for _, o := range owners {
		cm.OwnerReferences = append(cm.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "ConfigMap", Name: o.Name, UID: o.UID, BlockOwnerDeletion: ptr.To(true),
		})
	}
	out, err := e.client.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create configmap %s: %v", name, err)
	}
	return out
}

func (e *env) gone(ns, name string) func() (bool, error) {
	return func() (bool, error) {
		_, err := e.client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	}
}

func TestGarbageCollector(t *testing.T) {
	e := start(t, withControllers(garbagecollector.Name))
	ctx := e.ctx()
	ns := e.namespace("gc")

	t.Run("background deletes the dependents after the owner", func(t *testing.T) {
		owner := e.configMap(ns, "bg-owner", nil)
		e.configMap(ns, "bg-dep1", nil, owner)
		e.configMap(ns, "bg-dep2", nil, owner)
		if err := e.client.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "bg-dep1 gone", e.gone(ns, "bg-dep1"))
		eventually(t, 30*time.Second, "bg-dep2 gone", e.gone(ns, "bg-dep2"))
	})

	t.Run("orphan keeps the dependents without the reference", func(t *testing.T) {
		owner := e.configMap(ns, "or-owner", nil)
		e.configMap(ns, "or-dep", nil, owner)
		if err := e.client.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "or-owner gone", e.gone(ns, "or-owner"))
		dep, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "or-dep", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned dependent: %v", err)
		}
		if len(dep.OwnerReferences) != 0 {
			t.Errorf("orphaned dependent still has owner references %v", dep.OwnerReferences)
		}
	})

	t.Run("foreground waits for blocking dependents", func(t *testing.T) {
		owner := e.configMap(ns, "fg-owner", nil)
		// The dependent is held by a finalizer of its own, so the owner
		// must visibly wait for it.
		e.configMap(ns, "fg-dep", []string{"example.com/hold"}, owner)
		if err := e.client.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "fg-dep being deleted", func() (bool, error) {
			dep, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "fg-dep", metav1.GetOptions{})
			return err == nil && dep.DeletionTimestamp != nil, err
		})
		o, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "fg-owner", metav1.GetOptions{})
		if err != nil || o.DeletionTimestamp == nil {
			t.Fatalf("owner should wait, being deleted, for its dependent: %v %v", o, err)
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": []string{}}})
		if _, err := e.client.CoreV1().ConfigMaps(ns).Patch(ctx, "fg-dep", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "fg-owner gone", e.gone(ns, "fg-owner"))
	})

	t.Run("dangling owner reference deletes the dependent", func(t *testing.T) {
		ghost := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ghost", UID: "00000000-0000-0000-0000-000000000001"}}
		e.configMap(ns, "dangling", nil, ghost)
		eventually(t, 30*time.Second, "dangling gone", e.gone(ns, "dangling"))
	})

	t.Run("a solid owner keeps the dependent, the dangling reference goes", func(t *testing.T) {
		owner := e.configMap(ns, "solid-owner", nil)
		ghost := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ghost2", UID: "00000000-0000-0000-0000-000000000002"}}
		e.configMap(ns, "two-owners", nil, owner, ghost)
		eventually(t, 30*time.Second, "dangling reference removed", func() (bool, error) {
			dep, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, "two-owners", metav1.GetOptions{})
			return err == nil && len(dep.OwnerReferences) == 1 && dep.OwnerReferences[0].UID == owner.UID, err
		})
	})
}
