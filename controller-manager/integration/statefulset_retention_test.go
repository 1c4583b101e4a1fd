package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller/pvcprotection"
	"coracle.dev/controller-manager/internal/controller/statefulset"
)

// A StatefulSet's persistentVolumeClaimRetentionPolicy: the controller
// gives the claims owner references, the garbage collector deletes them.
// The manager runs with each controller's ServiceAccount credentials, so
// the bootstrap roles of the statefulset controller and the collector
// must allow what they do to the claims.

// holdFinalizer keeps a claim the test wants to see terminating.
const holdFinalizer = "test.coracle.dev/hold"

// withClaims gives a set a "data" claim template and a retention
// policy.
func withClaims(whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) {
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}}
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenScaled: whenScaled, WhenDeleted: whenDeleted}
	}
}

func (e *env) claim(ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return e.client.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
}

// waitClaim waits until the claim exists and cond holds of it.
func (e *env) waitClaim(ns, name, what string, cond func(*corev1.PersistentVolumeClaim) bool) *corev1.PersistentVolumeClaim {
	e.t.Helper()
	var c *corev1.PersistentVolumeClaim
	eventually(e.t, 60*time.Second, "claim "+name+": "+what, func() (bool, error) {
		var err error
		c, err = e.claim(ns, name)
		if err != nil {
			return false, err
		}
		return cond(c), fmt.Errorf("owners %+v, deletion %v", c.OwnerReferences, c.DeletionTimestamp)
	})
	return c
}

// ownedOnlyBy is a waitClaim condition: the claim's only owner
// reference is a controller reference to uid.
func ownedOnlyBy(uid types.UID) func(*corev1.PersistentVolumeClaim) bool {
	return func(c *corev1.PersistentVolumeClaim) bool {
		refs := c.OwnerReferences
		return len(refs) == 1 && refs[0].UID == uid && refs[0].Controller != nil && *refs[0].Controller
	}
}

func unowned(c *corev1.PersistentVolumeClaim) bool { return len(c.OwnerReferences) == 0 }

// TestStatefulSetRetentionWhenScaled: with whenScaled Delete, scaling
// 3 → 1 deletes the claims of web-1 and web-2 once their pods are gone
// and keeps web-0's; scaling up again waits for a claim still being
// deleted rather than start the pod on it, then makes it anew.
func TestStatefulSetRetentionWhenScaled(t *testing.T) {
	e := startServer(t)
	e.cm = e.startManager(e.withServiceAccountCredentials())
	startKubelet(e, "node-a")
	ctx := e.ctx()
	ns := e.namespace("sts-scaled")
	e.newStatefulSet(ns, "web", 3, withClaims(appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType))
	e.waitSet(ns, "web", "three ready", readyAt(3))
	for i := 0; i < 3; i++ {
		// In range, whenDeleted Retain: no owner.
		e.waitClaim(ns, fmt.Sprintf("data-web-%d", i), "no owner", unowned)
	}

	// data-web-1 is held, to see it owned by its pod while it is being
	// deleted, and the pod wait for it.
	held, err := e.client.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, "data-web-1", types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":["`+holdFinalizer+`"]}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldPod, err := e.client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.patchSet(ns, "web", `{"spec":{"replicas":1}}`)
	e.waitSet(ns, "web", "one left", func(s *appsv1.StatefulSet) bool {
		return readyAt(1)(s) && len(e.podNames(ns, "web")) == 1
	})
	e.waitPVCGone(ns, "data-web-2")
	e.waitClaim(ns, "data-web-1", "deleted with its pod", func(c *corev1.PersistentVolumeClaim) bool {
		return c.DeletionTimestamp != nil && ownedOnlyBy(oldPod.UID)(c)
	})
	if c, err := e.claim(ns, "data-web-0"); err != nil || c.DeletionTimestamp != nil || !unowned(c) {
		t.Fatalf("data-web-0 of the pod kept: %v, %+v", err, c)
	}

	// Scaled up, web-1 waits for its old claim to go.
	gen := e.patchSet(ns, "web", `{"spec":{"replicas":2}}`)
	e.waitSet(ns, "web", "scale up observed", observed(gen))
	if _, err := e.client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("web-1 created on a claim being deleted (get: %v)", err)
	}
	if _, err := e.client.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, "data-web-1", types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitSet(ns, "web", "two ready", readyAt(2))
	fresh := e.waitClaim(ns, "data-web-1", "made anew", func(c *corev1.PersistentVolumeClaim) bool { return c.UID != held.UID })
	if fresh.DeletionTimestamp != nil || !unowned(fresh) {
		t.Errorf("new data-web-1 %+v, want a claim with no owner", fresh.ObjectMeta)
	}
	if _, err := e.claim(ns, "data-web-2"); !apierrors.IsNotFound(err) {
		t.Errorf("data-web-2 made again, with web-2 not (get: %v)", err)
	}
}

// TestStatefulSetRetentionWhenDeleted: with whenDeleted Delete the
// claims are owned by the set and go with it; a set whose policy changes
// from Delete to Retain has the references removed, and its claims stay
// when it is deleted, as they always did under Retain.
func TestStatefulSetRetentionWhenDeleted(t *testing.T) {
	e := startServer(t)
	e.cm = e.startManager(e.withServiceAccountCredentials())
	startKubelet(e, "node-a")
	ctx := e.ctx()
	ns := e.namespace("sts-deleted")
	const retain, del = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	gone := e.newStatefulSet(ns, "gone", 2, withClaims(retain, del))
	kept := e.newStatefulSet(ns, "kept", 2, withClaims(del, del))
	e.waitSet(ns, "gone", "two ready", readyAt(2))
	e.waitSet(ns, "kept", "two ready", readyAt(2))
	for i := 0; i < 2; i++ {
		e.waitClaim(ns, fmt.Sprintf("data-gone-%d", i), "owned by its set", ownedOnlyBy(gone.UID))
		e.waitClaim(ns, fmt.Sprintf("data-kept-%d", i), "owned by its set", ownedOnlyBy(kept.UID))
	}

	e.patchSet(ns, "kept", `{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenScaled":"Retain","whenDeleted":"Retain"}}}`)
	for i := 0; i < 2; i++ {
		e.waitClaim(ns, fmt.Sprintf("data-kept-%d", i), "references removed", unowned)
	}

	for _, name := range []string{"gone", "kept"} {
		if err := e.client.AppsV1().StatefulSets(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		e.waitPVCGone(ns, fmt.Sprintf("data-gone-%d", i))
	}
	eventually(t, 60*time.Second, "sets and pods gone", func() (bool, error) {
		sets, err := e.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(sets.Items) == 0 && len(pods.Items) == 0, fmt.Errorf("%d sets, %d pods", len(sets.Items), len(pods.Items))
	})
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("data-kept-%d", i)
		if c, err := e.claim(ns, name); err != nil || c.DeletionTimestamp != nil {
			t.Errorf("%s of the Retain set not kept: %v, %+v", name, err, c)
		}
	}
}

// TestStatefulSetRetentionStaleClaim: a claim still owned by an older
// pod of its name (scaled down under whenScaled Delete, the collector
// not done with it yet) is not taken by the new pod: the pod waits for
// the claim to go. The collector does not run here, so the claim stays
// until the test deletes it.
func TestStatefulSetRetentionStaleClaim(t *testing.T) {
	e := startServer(t)
	e.cm = e.startManager(withControllers(statefulset.Name, pvcprotection.Name))
	startKubelet(e, "node-a")
	ctx := e.ctx()
	ns := e.namespace("sts-stale")
	e.newStatefulSet(ns, "web", 2, withClaims(appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType))
	e.waitSet(ns, "web", "two ready", readyAt(2))
	oldPod, err := e.client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.patchSet(ns, "web", `{"spec":{"replicas":1}}`)
	e.waitSet(ns, "web", "one left", func(s *appsv1.StatefulSet) bool {
		return readyAt(1)(s) && len(e.podNames(ns, "web")) == 1
	})
	stale := e.waitClaim(ns, "data-web-1", "owned by the deleted pod", ownedOnlyBy(oldPod.UID))

	gen := e.patchSet(ns, "web", `{"spec":{"replicas":2}}`)
	e.waitSet(ns, "web", "scale up observed", observed(gen))
	if _, err := e.client.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("web-1 created on a claim of the old web-1 (get: %v)", err)
	}
	// What the collector would do.
	if err := e.client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data-web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitSet(ns, "web", "two ready", readyAt(2))
	fresh := e.waitClaim(ns, "data-web-1", "made anew", func(c *corev1.PersistentVolumeClaim) bool { return c.UID != stale.UID })
	if !unowned(fresh) {
		t.Errorf("new data-web-1 owners %+v, want none", fresh.OwnerReferences)
	}
}
