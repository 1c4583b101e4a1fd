package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func newDeployment(name string, replicas int32, surge, unavailable string) *appsv1.Deployment {
	lbls := map[string]string{"app": name}
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: podTemplate(lbls),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
		},
	}
}

func (e *env) createDeployment(ns string, d *appsv1.Deployment) {
	e.t.Helper()
	if _, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create deployment: %v", err)
	}
}

// patchDeployment applies a merge patch.
func (e *env) patchDeployment(ns, name string, patch map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(patch)
	if _, err := e.client.AppsV1().Deployments(ns).Patch(context.Background(), name, types.MergePatchType, b, metav1.PatchOptions{}); err != nil {
		e.t.Fatalf("patch deployment: %v", err)
	}
}

func setImage(image string) map[string]any {
	return map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]any{{"name": "app", "image": image}},
	}}}}
}

// waitComplete waits for the rollout of the current generation to finish.
func (e *env) waitComplete(ns, name string) *appsv1.Deployment {
	e.t.Helper()
	var d *appsv1.Deployment
	eventually(e.t, 90*time.Second, "deployment "+name+" complete", func() (bool, error) {
		var err error
		d, err = e.client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st, want := d.Status, *d.Spec.Replicas
		return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.Replicas == want &&
			st.AvailableReplicas == want, nil
	})
	return d
}

func (e *env) replicaSetsOf(ns, app string) []appsv1.ReplicaSet {
	e.t.Helper()
	list, err := e.client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

func (e *env) replicaSetSizes(ns, app string) map[string]string {
	out := map[string]string{}
	for _, rs := range e.replicaSetsOf(ns, app) {
		out[rs.Name] = fmt.Sprintf("spec=%d status=%d/%d/%d ann=%v", *rs.Spec.Replicas, rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas, rs.Annotations)
	}
	return out
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// A rolling update, every pod change watched: never more than
// replicas+maxSurge pods, never fewer than replicas-maxUnavailable
// available; then a rollback to revision 1.
func TestDeploymentRollingUpdate(t *testing.T) {
	e := start(t)
	startKubelet(e, "node-a", "node-b", "node-c")
	ns := e.namespace("rolling")
	d := newDeployment("web", 6, "2", "1")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](5)
	e.createDeployment(ns, d)
	got := e.waitComplete(ns, "web")
	if got.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("revision = %q, want 1", got.Annotations["deployment.kubernetes.io/revision"])
	}
	if c := condition(got, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Available = %+v", c)
	}
	if c := condition(got, appsv1.DeploymentProgressing); c == nil || c.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing = %+v", c)
	}

	watch := watchBounds(e, ns, map[string]string{"app": "web"}, 6+2, 6-1, 0)
	e.patchDeployment(ns, "web", setImage("registry.example/app:2"))
	got = e.waitComplete(ns, "web")
	watch.verify(t)
	if got.Annotations["deployment.kubernetes.io/revision"] != "2" {
		t.Errorf("revision after update = %q, want 2", got.Annotations["deployment.kubernetes.io/revision"])
	}
	rss := e.replicaSetsOf(ns, "web")
	if len(rss) != 2 {
		t.Fatalf("%d replicasets, want 2", len(rss))
	}
	var oldRS appsv1.ReplicaSet
	for _, rs := range rss {
		if rs.Spec.Template.Spec.Containers[0].Image == "registry.example/app:1" {
			oldRS = rs
			if *rs.Spec.Replicas != 0 {
				t.Errorf("old replicaset still has %d replicas", *rs.Spec.Replicas)
			}
		}
		if rs.Labels["pod-template-hash"] == "" || rs.Spec.Selector.MatchLabels["pod-template-hash"] != rs.Labels["pod-template-hash"] {
			t.Errorf("replicaset %s lacks its pod-template-hash label/selector", rs.Name)
		}
	}
	for _, p := range activePods(e.pods(ns, map[string]string{"app": "web"})) {
		if p.Spec.Containers[0].Image != "registry.example/app:2" {
			t.Errorf("pod %s runs %s after the rollout", p.Name, p.Spec.Containers[0].Image)
		}
	}
	e.waitEvent(ns, "web", "ScalingReplicaSet")

	t.Run("rollback brings the old ReplicaSet back as revision 3", func(t *testing.T) {
		watch := watchBounds(e, ns, map[string]string{"app": "web"}, 6+2, 6-1, 0)
		// What `kubectl rollout undo --to-revision=1` does: the old
		// template back in the Deployment.
		e.patchDeployment(ns, "web", setImage("registry.example/app:1"))
		got := e.waitComplete(ns, "web")
		watch.verify(t)
		if got.Annotations["deployment.kubernetes.io/revision"] != "3" {
			t.Errorf("revision after rollback = %q, want 3", got.Annotations["deployment.kubernetes.io/revision"])
		}
		rs, err := e.client.AppsV1().ReplicaSets(ns).Get(context.Background(), oldRS.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rs.Annotations["deployment.kubernetes.io/revision"] != "3" || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" {
			t.Errorf("rolled-back replicaset annotations %v, want revision 3 and history 1", rs.Annotations)
		}
		if *rs.Spec.Replicas != 6 {
			t.Errorf("rolled-back replicaset has %d replicas, want 6", *rs.Spec.Replicas)
		}
		if n := len(e.replicaSetsOf(ns, "web")); n != 2 {
			t.Errorf("%d replicasets after rollback, want 2 (the old one reused)", n)
		}
	})

	t.Run("revisionHistoryLimit deletes old ReplicaSets", func(t *testing.T) {
		e.patchDeployment(ns, "web", map[string]any{"spec": map[string]any{"revisionHistoryLimit": 0}})
		eventually(t, 30*time.Second, "only the current replicaset left", func() (bool, error) {
			return len(e.replicaSetsOf(ns, "web")) == 1, nil
		})
	})

	t.Run("cascading delete removes ReplicaSets and pods", func(t *testing.T) {
		if err := e.client.AppsV1().Deployments(ns).Delete(context.Background(), "web", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "deployment, replicasets and pods gone", func() (bool, error) {
			_, err := e.client.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err) && len(e.replicaSetsOf(ns, "web")) == 0 && len(e.pods(ns, map[string]string{"app": "web"})) == 0, nil
		})
	})
}

// Recreate: the old pods are all gone before a new one exists.
func TestDeploymentRecreate(t *testing.T) {
	e := start(t)
	startKubelet(e, "node-a", "node-b")
	ns := e.namespace("recreate")
	d := newDeployment("db", 3, "0", "0")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	e.createDeployment(ns, d)
	e.waitComplete(ns, "db")
	done := make(chan struct{})
	mixed := make(chan string, 1)
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			images := map[string]bool{}
			for _, p := range e.pods(ns, map[string]string{"app": "db"}) {
				images[p.Spec.Containers[0].Image] = true
			}
			if len(images) > 1 {
				select {
				case mixed <- "old and new pods at once":
				default:
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	e.patchDeployment(ns, "db", setImage("registry.example/app:2"))
	e.waitComplete(ns, "db")
	close(done)
	select {
	case m := <-mixed:
		t.Error(m)
	default:
	}
}

// Pause, proportional scaling of a stuck rollout, progress deadline,
// resume.
func TestDeploymentPauseScaleDeadline(t *testing.T) {
	e := start(t)
	startKubelet(e, "node-a", "node-b")
	ns := e.namespace("pause")
	d := newDeployment("api", 4, "1", "1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](3)
	e.createDeployment(ns, d)
	e.waitComplete(ns, "api")

	// Paused: a template change makes no new ReplicaSet.
	e.patchDeployment(ns, "api", map[string]any{"spec": map[string]any{"paused": true}})
	e.patchDeployment(ns, "api", setImage("registry.example/app:2"))
	eventually(t, 30*time.Second, "paused condition", func() (bool, error) {
		d, err := e.client.AppsV1().Deployments(ns).Get(context.Background(), "api", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := condition(d, appsv1.DeploymentProgressing)
		return d.Status.ObservedGeneration == d.Generation && c != nil && c.Reason == "DeploymentPaused", nil
	})
	if n := len(e.replicaSetsOf(ns, "api")); n != 1 {
		t.Fatalf("%d replicasets while paused, want 1", n)
	}

	// Resume with a template whose pods never get ready: the rollout
	// stops at maxUnavailable and then times out.
	e.patchDeployment(ns, "api", map[string]any{"spec": map[string]any{"paused": false, "template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{annNotReady: "true"}},
	}}})
	var stuck *appsv1.Deployment
	eventually(t, 60*time.Second, "progress deadline exceeded", func() (bool, error) {
		var err error
		stuck, err = e.client.AppsV1().Deployments(ns).Get(context.Background(), "api", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := condition(stuck, appsv1.DeploymentProgressing)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded", nil
	})
	if stuck.Status.AvailableReplicas < 3 {
		t.Errorf("available = %d during a stuck rollout, want at least replicas-maxUnavailable = 3", stuck.Status.AvailableReplicas)
	}
	e.waitEvent(ns, "api", "ScalingReplicaSet")

	// Scale the stuck rollout from 4 to 8: both ReplicaSets grow in
	// proportion, to 8 + maxSurge (1) in all.
	rssBefore := map[string]int32{}
	for _, rs := range e.replicaSetsOf(ns, "api") {
		rssBefore[rs.Name] = *rs.Spec.Replicas
	}
	e.patchDeployment(ns, "api", map[string]any{"spec": map[string]any{"replicas": 8}})
	eventually(t, 30*time.Second, "proportional scale", func() (bool, error) {
		var total int32
		grew := 0
		for _, rs := range e.replicaSetsOf(ns, "api") {
			total += *rs.Spec.Replicas
			if *rs.Spec.Replicas > rssBefore[rs.Name] {
				grew++
			}
		}
		if total == 8+1 && grew == 2 {
			return true, nil
		}
		return false, fmt.Errorf("total %d, grew %d: %v", total, grew, e.replicaSetSizes(ns, "api"))
	})
}
