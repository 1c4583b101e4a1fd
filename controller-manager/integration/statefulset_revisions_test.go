package integration

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// setPods maps the set's live pods by name.
func (e *env) setPods(ns, app string) map[string]corev1.Pod {
	out := map[string]corev1.Pod{}
	for _, p := range activePods(e.pods(ns, map[string]string{"app": app})) {
		out[p.Name] = p
	}
	return out
}

// checkRevisions fails unless the pods below partition run oldImage at
// revision current and the others newImage at revision update.
func checkRevisions(t *testing.T, pods map[string]corev1.Pod, n, partition int, current, update, oldImage, newImage string) {
	t.Helper()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("ss2-%d", i)
		p, ok := pods[name]
		if !ok {
			t.Errorf("pod %s missing", name)
			continue
		}
		image, rev := oldImage, current
		if i >= partition {
			image, rev = newImage, update
		}
		if got := p.Spec.Containers[0].Image; got != image {
			t.Errorf("pod %s has image %s, want %s", name, got, image)
		}
		if got := p.Labels[appsv1.StatefulSetRevisionLabel]; got != rev {
			t.Errorf("pod %s at revision %s, want %s", name, got, rev)
		}
	}
}

// TestStatefulSetCanaryAndPhasedUpdate follows the conformance test
// "should perform canary updates and phased rolling updates of template
// modifications", then rolls back ("should perform rolling updates and
// roll backs"): the set's templates are ControllerRevisions; pods below
// the partition keep the current revision, even when deleted and
// recreated; a return to an old template reuses its revision.
func TestStatefulSetCanaryAndPhasedUpdate(t *testing.T) {
	e := start(t)
	startKubelet(e, "node-a", "node-b")
	ctx := e.ctx()
	ns := e.namespace("sts-canary")
	const oldImage, newImage = "registry.example/app:1", "registry.example/app:2"
	e.newStatefulSet(ns, "ss2", 3, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{
			Type:          appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](3)},
		}
	})
	s := e.waitSet(ns, "ss2", "three ready", readyAt(3))
	current := s.Status.CurrentRevision
	if current == "" || current != s.Status.UpdateRevision {
		t.Fatalf("new set: current revision %q, update revision %q", current, s.Status.UpdateRevision)
	}
	checkRevisions(t, e.setPods(ns, "ss2"), 3, 3, current, "", oldImage, "")
	revs, err := e.client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 1 || revs.Items[0].Name != current || revs.Items[0].Revision != 1 ||
		metav1.GetControllerOf(&revs.Items[0]) == nil || metav1.GetControllerOf(&revs.Items[0]).UID != s.UID {
		t.Fatalf("revisions %+v (%v), want one, %s, owned by the set", revs, err, current)
	}

	// A new template above the partition changes no pod.
	gen := e.patchSet(ns, "ss2", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"`+newImage+`"}]}}}}`)
	s = e.waitSet(ns, "ss2", "new revision", observed(gen))
	update := s.Status.UpdateRevision
	if s.Status.CurrentRevision != current || update == current {
		t.Fatalf("after the template change: current %s update %s, want current %s and a new update revision", s.Status.CurrentRevision, update, current)
	}
	checkRevisions(t, e.setPods(ns, "ss2"), 3, 3, current, update, oldImage, newImage)

	// The canary: partition 2 updates ss2-2 only.
	e.patchSet(ns, "ss2", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}`)
	e.waitSet(ns, "ss2", "canary updated", func(s *appsv1.StatefulSet) bool {
		return s.Status.UpdatedReplicas == 1 && s.Status.CurrentReplicas == 2 && s.Status.ReadyReplicas == 3
	})
	checkRevisions(t, e.setPods(ns, "ss2"), 3, 2, current, update, oldImage, newImage)

	// Deleted pods come back at the revision their ordinal has.
	before := e.setPods(ns, "ss2")
	for _, name := range []string{"ss2-0", "ss2-2"} {
		if err := e.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, "ss2-0 and ss2-2 recreated", func() (bool, error) {
		pods := e.setPods(ns, "ss2")
		for _, name := range []string{"ss2-0", "ss2-2"} {
			if p, ok := pods[name]; !ok || p.UID == before[name].UID || p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
		}
		return len(pods) == 3, nil
	})
	checkRevisions(t, e.setPods(ns, "ss2"), 3, 2, current, update, oldImage, newImage)

	// Phased: partition 1, then 0; then the update is current.
	for _, partition := range []int{1, 0} {
		e.patchSet(ns, "ss2", fmt.Sprintf(`{"spec":{"updateStrategy":{"rollingUpdate":{"partition":%d}}}}`, partition))
		want := int32(3 - partition)
		e.waitSet(ns, "ss2", fmt.Sprintf("partition %d rolled out", partition), func(s *appsv1.StatefulSet) bool {
			return s.Status.UpdatedReplicas == want && s.Status.ReadyReplicas == 3
		})
		checkRevisions(t, e.setPods(ns, "ss2"), 3, partition, current, update, oldImage, newImage)
	}
	s = e.waitSet(ns, "ss2", "update complete", func(s *appsv1.StatefulSet) bool {
		return s.Status.CurrentRevision == update && s.Status.CurrentReplicas == 3
	})

	// Back to the old template: its revision is the update revision
	// again, renumbered as the newest.
	gen = e.patchSet(ns, "ss2", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"`+oldImage+`"}]}}}}`)
	s = e.waitSet(ns, "ss2", "rollback observed", observed(gen))
	if s.Status.UpdateRevision != current || s.Status.CurrentRevision != update {
		t.Fatalf("rollback: update %s current %s, want update %s current %s", s.Status.UpdateRevision, s.Status.CurrentRevision, current, update)
	}
	e.waitSet(ns, "ss2", "rolled back", func(s *appsv1.StatefulSet) bool {
		return s.Status.CurrentRevision == current && s.Status.UpdatedReplicas == 3 && s.Status.ReadyReplicas == 3
	})
	checkRevisions(t, e.setPods(ns, "ss2"), 3, 0, "", current, "", oldImage)
	old, err := e.client.AppsV1().ControllerRevisions(ns).Get(ctx, current, metav1.GetOptions{})
	if err != nil || old.Revision != 3 {
		t.Errorf("rolled-back revision %s: %+v (%v), want revision 3", current, old, err)
	}
	revs, err = e.client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 2 {
		t.Errorf("%d revisions (%v), want 2", len(revs.Items), err)
	}

	// The history limit: one old revision at most beyond the live ones.
	e.patchSet(ns, "ss2", `{"spec":{"revisionHistoryLimit":0}}`)
	eventually(t, 60*time.Second, "history truncated", func() (bool, error) {
		revs, err := e.client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(revs.Items) == 1 && revs.Items[0].Name == current, err
	})
}
