package integration

import (
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestReplicationController: an RC runs on the ReplicaSet logic, with its
// own kind in the pods' controller references and in the events.
func TestReplicationController(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	startKubelet(e, "node-a")
	ns := e.namespace("rc")
	lbls := map[string]string{"app": "web"}
	rcs := e.client.CoreV1().ReplicationControllers(ns)

	// A matching orphan is adopted as one of the three.
	tmpl := podTemplate(lbls)
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: lbls}, Spec: tmpl.Spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No selector: the apiserver defaults it to the template's labels.
	rc, err := rcs.Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Template: &tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(want int32) []corev1.Pod {
		t.Helper()
		var pods []corev1.Pod
		eventually(t, 60*time.Second, "replication controller at "+itoa(int(want)), func() (bool, error) {
			cur, err := rcs.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := cur.Status
			pods = activePods(e.pods(ns, lbls))
			return st.ObservedGeneration == cur.Generation && st.Replicas == want && st.ReadyReplicas == want &&
				st.AvailableReplicas == want && st.FullyLabeledReplicas == want && len(pods) == int(want), nil
		})
		return pods
	}
	for _, p := range wait(3) {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != rc.UID ||
			ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s: controller reference %+v", p.Name, ref)
		}
	}
	e.waitEvent(ns, "web", "SuccessfulCreate")
	events, err := e.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		if ev.InvolvedObject.Kind != "ReplicationController" || ev.InvolvedObject.UID != rc.UID || ev.Source.Component != "replicationcontroller-controller" {
			t.Errorf("event %s about %+v from %q", ev.Reason, ev.InvolvedObject, ev.Source.Component)
		}
	}

	// Scaled down through the scale subresource, as `kubectl scale` does.
	if _, err := rcs.UpdateScale(ctx, "web", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 1},
	}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := wait(1)
	e.waitEvent(ns, "web", "SuccessfulDelete")

	// A deleted pod is replaced.
	if err := e.client.CoreV1().Pods(ns).Delete(ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "replacement", func() (bool, error) {
		cur := activePods(e.pods(ns, lbls))
		return len(cur) == 1 && cur[0].UID != pods[0].UID, nil
	})
	wait(1)

	// Deleting the RC in the background: the garbage collector takes the pods.
	if err := rcs.Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "rc and its pods gone", func() (bool, error) {
		_, err := rcs.Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err) && len(e.pods(ns, lbls)) == 0, nil
	})
}
