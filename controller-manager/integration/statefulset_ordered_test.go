package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// newStatefulSet is a set named name of replicas pods labelled app=name,
// with its headless Service.
func (e *env) newStatefulSet(ns, name string, replicas int32, mutate func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	e.t.Helper()
	ctx := context.Background()
	lbls := map[string]string{"app": name}
	if _, err := e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: lbls},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(replicas), ServiceName: name,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: podTemplate(lbls),
		},
	}
	if mutate != nil {
		mutate(s)
	}
	created, err := e.client.AppsV1().StatefulSets(ns).Create(ctx, s, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return created
}

// patchSet merge-patches a StatefulSet and returns its new generation.
func (e *env) patchSet(ns, name, patch string) int64 {
	e.t.Helper()
	s, err := e.client.AppsV1().StatefulSets(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		e.t.Fatalf("patch statefulset %s: %v", name, err)
	}
	return s.Generation
}

// waitSet waits until the set's status satisfies cond.
func (e *env) waitSet(ns, name, what string, cond func(*appsv1.StatefulSet) bool) *appsv1.StatefulSet {
	e.t.Helper()
	var s *appsv1.StatefulSet
	eventually(e.t, 60*time.Second, "statefulset "+name+": "+what, func() (bool, error) {
		var err error
		s, err = e.client.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cond(s), fmt.Errorf("status %+v", s.Status)
	})
	return s
}

// observed is a waitSet condition: the controller has synced generation
// gen. The controller acts on pods before it writes the status of a
// sync, so what it decided for gen is done (or not done) by then.
func observed(gen int64) func(*appsv1.StatefulSet) bool {
	return func(s *appsv1.StatefulSet) bool { return s.Status.ObservedGeneration >= gen }
}

// readyAt is a waitSet condition: n replicas, all ready, generation
// observed.
func readyAt(n int32) func(*appsv1.StatefulSet) bool {
	return func(s *appsv1.StatefulSet) bool {
		return s.Status.ObservedGeneration == s.Generation && s.Status.Replicas == n && s.Status.ReadyReplicas == n
	}
}

// podNames are the names of the set's pods that exist.
func (e *env) podNames(ns, app string) []string {
	var out []string
	for _, p := range e.pods(ns, map[string]string{"app": app}) {
		out = append(out, p.Name)
	}
	return out
}

// TestStatefulSetOrderedReadyHalts: the conformance test "Scaling should
// happen in predictable order and halt if any stateful pod is
// unhealthy": with OrderedReady, neither scaling up nor scaling down
// goes on while a pod is unready; once all are ready, pods come in
// ascending and go in descending order.
func TestStatefulSetOrderedReadyHalts(t *testing.T) {
	e := start(t)
	k := startKubelet(e, "node-a")
	ns := e.namespace("sts-halt")
	e.newStatefulSet(ns, "ss", 1, nil)
	e.waitSet(ns, "ss", "one ready", readyAt(1))

	// Scale up halts at an unready pod.
	k.setReady(ns, "ss-0", false)
	e.waitSet(ns, "ss", "ss-0 unready", func(s *appsv1.StatefulSet) bool { return s.Status.ReadyReplicas == 0 })
	gen := e.patchSet(ns, "ss", `{"spec":{"replicas":3}}`)
	e.waitSet(ns, "ss", "scale up observed", observed(gen))
	if names := e.podNames(ns, "ss"); len(names) != 1 {
		t.Fatalf("scaled up past an unready pod: %v", names)
	}

	// Once ready, in ascending order.
	order := watchOrder(e, ns, "ss", false)
	k.setReady(ns, "ss-0", true)
	e.waitSet(ns, "ss", "three ready", readyAt(3))
	order.verify(t)

	// Scale down halts while every pod is unready. (The order watch
	// starts while the pods are ready: it checks creations too.)
	order = watchOrder(e, ns, "ss", true)
	for i := 0; i < 3; i++ {
		k.setReady(ns, fmt.Sprintf("ss-%d", i), false)
	}
	e.waitSet(ns, "ss", "all unready", func(s *appsv1.StatefulSet) bool { return s.Status.ReadyReplicas == 0 })
	gen = e.patchSet(ns, "ss", `{"spec":{"replicas":0}}`)
	e.waitSet(ns, "ss", "scale down observed", observed(gen))
	for _, p := range e.pods(ns, map[string]string{"app": "ss"}) {
		if p.DeletionTimestamp != nil {
			t.Errorf("scale down deleted %s while every pod was unready", p.Name)
		}
	}
	if names := e.podNames(ns, "ss"); len(names) != 3 {
		t.Fatalf("scaled down with unready pods: %v", names)
	}

	// Once ready, in descending order, to none. (Made ready from the
	// highest: a ready pod at the top may go while lower ones are still
	// unready, as in Kubernetes.)
	for i := 2; i >= 0; i-- {
		k.setReady(ns, fmt.Sprintf("ss-%d", i), true)
	}
	e.waitSet(ns, "ss", "scaled to zero", func(s *appsv1.StatefulSet) bool { return s.Status.Replicas == 0 && len(e.podNames(ns, "ss")) == 0 })
	order.verify(t)
}

// TestStatefulSetParallelDoesNotHalt: Parallel pod management scales up
// and down past unready pods (the conformance test "Burst scaling").
func TestStatefulSetParallelDoesNotHalt(t *testing.T) {
	e := start(t)
	k := startKubelet(e, "node-a")
	ns := e.namespace("sts-burst")
	e.newStatefulSet(ns, "ss", 1, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement })
	e.waitSet(ns, "ss", "one ready", readyAt(1))
	k.setReady(ns, "ss-0", false)
	e.waitSet(ns, "ss", "ss-0 unready", func(s *appsv1.StatefulSet) bool { return s.Status.ReadyReplicas == 0 })
	e.patchSet(ns, "ss", `{"spec":{"replicas":3}}`)
	e.waitSet(ns, "ss", "three pods", func(s *appsv1.StatefulSet) bool { return s.Status.Replicas == 3 })
	e.patchSet(ns, "ss", `{"spec":{"replicas":0}}`)
	e.waitSet(ns, "ss", "none", func(s *appsv1.StatefulSet) bool { return s.Status.Replicas == 0 && len(e.podNames(ns, "ss")) == 0 })
}

// TestStatefulSetRecreatesFailedPod: a pod its node failed (evicted, or
// rejected for a host port already taken) is deleted and created again
// (the conformance test "Should recreate evicted statefulset").
func TestStatefulSetRecreatesFailedPod(t *testing.T) {
	e := start(t)
	k := startKubelet(e, "node-a")
	ns := e.namespace("sts-failed")
	e.newStatefulSet(ns, "ss", 1, nil)
	e.waitSet(ns, "ss", "one ready", readyAt(1))
	first, err := e.client.CoreV1().Pods(ns).Get(context.Background(), "ss-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.failPod(ns, "ss-0")
	eventually(t, 60*time.Second, "ss-0 recreated and running", func() (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), "ss-0", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.UID != first.UID && p.Status.Phase == corev1.PodRunning, nil
	})
	e.waitEvent(ns, "ss", "SuccessfulDelete")
}
