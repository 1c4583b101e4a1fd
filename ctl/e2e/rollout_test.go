package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// deploymentWithHistory stores a Deployment running busybox:2 and the two
// ReplicaSets the Deployment controller would have written for revisions
// 1 (busybox:1) and 2, with their revision annotations, pod-template-hash
// labels and controller references.
func deploymentWithHistory(t *testing.T, c *cluster, ns, name string) *appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	template := func(image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}
	}
	d, err := c.client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template("busybox:2")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for rev, image := range map[string]string{"1": "busybox:1", "2": "busybox:2"} {
		tmpl := template(image)
		hash := "hash" + rev
		tmpl.Labels["pod-template-hash"] = hash
		sel := map[string]string{"app": name, "pod-template-hash": hash}
		_, err := c.client.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: name + "-" + hash, Labels: sel,
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev, "kubernetes.io/change-cause": "image " + image},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: d.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](map[string]int32{"1": 0, "2": 2}[rev]), Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// setStatus writes a Deployment's status as the controller would.
func setStatus(t *testing.T, c *cluster, ns, name string, f func(*appsv1.Deployment)) {
	t.Helper()
	ctx := context.Background()
	d, err := c.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.ObservedGeneration = d.Generation
	f(d)
	if _, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestRollout(t *testing.T) {
	c := startCluster(t)
	k := ctl(t, c)
	ctx := context.Background()

	t.Run("history lists revisions and shows one", func(t *testing.T) {
		ns := c.namespace(t)
		deploymentWithHistory(t, c, ns, "web")
		k.says(t, "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         image busybox:1\n2         image busybox:2", "-n", ns, "rollout", "history", "deployment/web")
		out := k.ok(t, "-n", ns, "rollout", "history", "deploy", "web", "--revision=1")
		if !strings.HasPrefix(out, "deployment.apps/web with revision #1\nPod Template:\n") || !strings.Contains(out, "busybox:1") || strings.Contains(out, "pod-template-hash") {
			t.Fatalf("history --revision=1:\n%s", out)
		}
	})

	t.Run("undo copies the previous revision's template", func(t *testing.T) {
		ns := c.namespace(t)
		deploymentWithHistory(t, c, ns, "web")
		k.says(t, "deployment.apps/web rolled back", "-n", ns, "rollout", "undo", "deployment/web")
		d, _ := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:1" {
			t.Fatalf("image after undo %s", img)
		}
		if _, ok := d.Spec.Template.Labels["pod-template-hash"]; ok {
			t.Fatal("undo copied the pod-template-hash label")
		}
		if d.Annotations["kubernetes.io/change-cause"] != "image busybox:1" {
			t.Fatalf("change cause %q", d.Annotations["kubernetes.io/change-cause"])
		}
		k.says(t, "deployment.apps/web skipped rollback (current template already matches revision 1)", "-n", ns, "rollout", "undo", "deployment/web", "--to-revision=1")
		k.says(t, "deployment.apps/web rolled back", "-n", ns, "rollout", "undo", "deployment/web", "--to-revision=2")
		d, _ = c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:2" {
			t.Fatalf("image after undo --to-revision=2: %s", img)
		}
		k.fails(t, "error: unable to find specified revision 9 in history", "-n", ns, "rollout", "undo", "deployment/web", "--to-revision=9")
	})

	t.Run("pause, resume, restart, set image, scale", func(t *testing.T) {
		ns := c.namespace(t)
		deploymentWithHistory(t, c, ns, "web")
		k.says(t, "deployment.apps/web paused", "-n", ns, "rollout", "pause", "deployment/web")
		k.fails(t, `error: deployment.apps "web" is already paused`, "-n", ns, "rollout", "pause", "deployment/web")
		k.fails(t, "error: you cannot rollback a paused deployment; resume it first with 'ctl rollout resume' and try again", "-n", ns, "rollout", "undo", "deployment/web")
		k.fails(t, `error: deployment.apps "web" can't restart paused deployment (run rollout resume first)`, "-n", ns, "rollout", "restart", "deployment/web")
		k.says(t, "deployment.apps/web resumed", "-n", ns, "rollout", "resume", "deployment/web")
		k.fails(t, `error: deployment.apps "web" is not paused`, "-n", ns, "rollout", "resume", "deployment/web")
		k.says(t, "deployment.apps/web restarted", "-n", ns, "rollout", "restart", "deployment/web")
		d, _ := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		at, err := time.Parse(time.RFC3339, d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"])
		if err != nil || time.Since(at) > time.Minute {
			t.Fatalf("restartedAt %q: %v", d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"], err)
		}
		k.says(t, "deployment.apps/web image updated", "-n", ns, "set", "image", "deploy/web", "web=busybox:3")
		k.says(t, "replicaset.apps/web-hash2 scaled", "-n", ns, "scale", "rs/web-hash2", "--replicas=3")
		rs, _ := c.client.AppsV1().ReplicaSets(ns).Get(ctx, "web-hash2", metav1.GetOptions{})
		if *rs.Spec.Replicas != 3 {
			t.Fatalf("replica set replicas %d", *rs.Spec.Replicas)
		}
		_, err = c.client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "db"},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}}, Spec: podSpec("busybox")}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		k.says(t, "statefulset.apps/db scaled", "-n", ns, "scale", "sts/db", "--replicas=2")
		sts, _ := c.client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if *sts.Spec.Replicas != 2 {
			t.Fatalf("statefulset replicas %d", *sts.Spec.Replicas)
		}
	})

	t.Run("status follows the rollout until it completes", func(t *testing.T) {
		ns := c.namespace(t)
		deploymentWithHistory(t, c, ns, "web")
		setStatus(t, c, ns, "web", func(d *appsv1.Deployment) { d.Status.Replicas, d.Status.UpdatedReplicas = 2, 1 })
		k.says(t, `Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...`, "-n", ns, "rollout", "status", "deploy/web", "--watch=false")
		out, cmd := k.background(t, "-n", ns, "rollout", "status", "deployment/web")
		eventually(t, "the first progress line", func() bool { return strings.Contains(out.String(), "1 out of 2 new replicas") })
		setStatus(t, c, ns, "web", func(d *appsv1.Deployment) {
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.ReadyReplicas = 2, 2, 1, 1
		})
		eventually(t, "the availability line", func() bool { return strings.Contains(out.String(), "1 of 2 updated replicas are available...") })
		setStatus(t, c, ns, "web", func(d *appsv1.Deployment) {
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.ReadyReplicas = 2, 2, 2, 2
		})
		if code := waitExit(t, cmd); code != 0 {
			t.Fatalf("rollout status exited %d:\n%s", code, out)
		}
		want := "Waiting for deployment \"web\" rollout to finish: 1 out of 2 new replicas have been updated...\n" +
			"Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\n" +
			"deployment \"web\" successfully rolled out\n"
		if out.String() != want {
			t.Fatalf("rollout status printed:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("status exits 1 when the progress deadline is exceeded", func(t *testing.T) {
		ns := c.namespace(t)
		deploymentWithHistory(t, c, ns, "web")
		setStatus(t, c, ns, "web", func(d *appsv1.Deployment) { d.Status.Replicas, d.Status.UpdatedReplicas = 2, 1 })
		out, cmd := k.background(t, "-n", ns, "rollout", "status", "deployment/web")
		eventually(t, "the first progress line", func() bool { return strings.Contains(out.String(), "1 out of 2") })
		setStatus(t, c, ns, "web", func(d *appsv1.Deployment) {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				Message: `ReplicaSet "web-hash2" has timed out progressing.`, LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		})
		if code := waitExit(t, cmd); code != 1 {
			t.Fatalf("rollout status exited %d, want 1", code)
		}
		k.fails(t, `error: deployment "web" exceeded its progress deadline`, "-n", ns, "rollout", "status", "deployment/web")
	})
}

// waitExit waits for a background command to end and returns its status.
func waitExit(t *testing.T, b *bg) int {
	t.Helper()
	select {
	case <-b.done:
		return b.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not exit within 30s")
		return -1
	}
}

// TestRolloutWithControllerManager rolls a Deployment forward and back
// with the real Deployment controller writing the ReplicaSets.
func TestRolloutWithControllerManager(t *testing.T) {
	c := startCluster(t)
	k := ctl(t, c)
	startComponent(t, c, "controller-manager")
	ns := c.namespace(t)
	k.says(t, "deployment.apps/web created", "-n", ns, "create", "deployment", "web", "--image=busybox:1", "--", "sleep", "3600")
	k.says(t, "deployment.apps/web image updated", "-n", ns, "set", "image", "deployment/web", "busybox=busybox:2")
	// The controller writes revision 2's ReplicaSet a moment after the
	// template changed: poll for it.
	eventually(t, "revisions 1 and 2 after two templates", func() bool {
		out := k.ok(t, "-n", ns, "rollout", "history", "deployment/web")
		return strings.Contains(out, "\n1 ") && strings.Contains(out, "\n2 ")
	})
	k.says(t, "deployment.apps/web rolled back", "-n", ns, "rollout", "undo", "deployment/web")
	eventually(t, "revision 3 for the rolled back template", func() bool {
		return strings.Contains(k.ok(t, "-n", ns, "rollout", "history", "deployment/web"), "\n3 ")
	})
}
