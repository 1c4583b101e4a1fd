package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestDaemonSetRevisions follows the conformance test "ControllerRevision
// should manage the lifecycle of a ControllerRevision", then rolls the
// set forward and back: a DaemonSet's templates are ControllerRevisions
// named set-hash, labelled with the template's labels and the hash its
// pods carry; a copy of the current revision made by hand is adopted
// into the history and the current one may be deleted without the pods
// rolling; a template change makes revision 3 past a name taken by
// another template; a return to an old template renumbers its revision;
// the history beyond revisionHistoryLimit goes.
func TestDaemonSetRevisions(t *testing.T) {
	e := start(t)
	ctx := e.ctx()
	startKubelet(e, "node-a", "node-b")
	ns := e.namespace("ds-rev")
	lbls := map[string]string{"daemonset-name": "agent"}
	ds, err := e.client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Labels: lbls},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls}, Template: podTemplate(lbls),
			RevisionHistoryLimit: ptr.To[int32](2),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	selector := labels.SelectorFromSet(lbls).String()
	revisions := func() []appsv1.ControllerRevision {
		t.Helper()
		list, err := e.client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	// settled waits until every node runs one pod of image labelled with
	// the hash of the set's only revision whose template has image, and
	// the status counts them as updated.
	settled := func(image string) appsv1.ControllerRevision {
		t.Helper()
		var cur appsv1.ControllerRevision
		eventually(t, 60*time.Second, "daemon pods at "+image, func() (bool, error) {
			d, err := e.client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if d.Status.ObservedGeneration != d.Generation || d.Status.UpdatedNumberScheduled != 2 || d.Status.NumberAvailable != 2 {
				return false, fmt.Errorf("status %+v at generation %d", d.Status, d.Generation)
			}
			found := 0
			for _, r := range revisions() {
				if containsImage(r.Data.Raw, image) {
					cur, found = r, found+1
				}
			}
			if found != 1 {
				return false, fmt.Errorf("%d revisions hold %s", found, image)
			}
			pods := e.podsByNode(ns, lbls)
			if len(pods) != 2 {
				return false, nil
			}
			for _, list := range pods {
				if len(list) != 1 || list[0].Spec.Containers[0].Image != image || list[0].Labels[appsv1.ControllerRevisionHashLabelKey] != cur.Labels[appsv1.ControllerRevisionHashLabelKey] {
					return false, nil
				}
			}
			return true, nil
		})
		return cur
	}
	countRevisions := func(n int) {
		t.Helper()
		eventually(t, 30*time.Second, fmt.Sprintf("%d controllerrevisions", n), func() (bool, error) {
			return len(revisions()) == n, nil
		})
	}

	initial := settled("registry.example/app:1")
	hash := initial.Labels[appsv1.ControllerRevisionHashLabelKey]
	if initial.Name != "agent-"+hash || initial.Revision != 1 || metav1.GetControllerOf(&initial).UID != ds.UID {
		t.Fatalf("revision %s number %d owners %v", initial.Name, initial.Revision, initial.OwnerReferences)
	}
	want := (`{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"daemonset-name":"agent"}},"spec":{"containers":[{"image":"registry.example/app:1","imagePullPolicy":"IfNotPresent","name":"app","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`)
	if got := string(initial.Data.Raw); got != want {
		t.Errorf("revision data\n got %s\nwant %s", got, want)
	}

	// A copy of the current revision under another name, as the
	// conformance test makes; the set's history holds both until the
	// first is deleted, and its pods stay where they are.
	podUIDs := map[types.UID]bool{}
	for _, list := range e.podsByNode(ns, lbls) {
		podUIDs[list[0].UID] = true
	}
	copyRev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: "agent-copy", Namespace: ns,
			Labels:          map[string]string{"daemonset-name": "agent", appsv1.ControllerRevisionHashLabelKey: "copy"},
			OwnerReferences: initial.OwnerReferences,
		},
		Data: initial.Data, Revision: initial.Revision + 1,
	}
	if _, err := e.client.AppsV1().ControllerRevisions(ns).Create(ctx, copyRev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	countRevisions(2)
	if err := e.client.AppsV1().ControllerRevisions(ns).Delete(ctx, initial.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	countRevisions(1)
	// The set syncs on the deletion: a sync that took the copy for a
	// new template would roll the pods; none may go.
	eventually(t, 30*time.Second, "the set synced after the deletion", func() (bool, error) {
		d, err := e.client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && d.Status.UpdatedNumberScheduled == 2, err
	})
	for _, list := range e.podsByNode(ns, lbls) {
		if len(list) != 1 || !podUIDs[list[0].UID] {
			t.Fatalf("pods rolled though the template did not change: %v", list)
		}
	}

	// A new template: a new revision numbered after the copy.
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/app:2"}]}}}}`)
	if _, err := e.client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	second := settled("registry.example/app:2")
	if second.Revision != 3 {
		t.Errorf("new revision numbered %d, want 3", second.Revision)
	}
	countRevisions(2)

	// Back to the first template: its revision (the copy) becomes the
	// newest and the pods carry its hash again.
	patch = []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/app:1"}]}}}}`)
	if _, err := e.client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	back := settled("registry.example/app:1")
	if back.Name != "agent-copy" || back.Revision != 4 {
		t.Errorf("rolled back to %s numbered %d, want agent-copy numbered 4", back.Name, back.Revision)
	}

	// Two more templates: with a limit of 2, the oldest unused goes.
	for _, image := range []string{"registry.example/app:3", "registry.example/app:4"} {
		patch := []byte(fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image))
		if _, err := e.client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		settled(image)
	}
	countRevisions(3)
	for _, r := range revisions() {
		if r.Name == second.Name {
			t.Errorf("revision %s (app:2) kept beyond the history limit", r.Name)
		}
	}
}

// podsByNode maps node name to the active pods selected there.
func (e *env) podsByNode(ns string, selector map[string]string) map[string][]corev1.Pod {
	out := map[string][]corev1.Pod{}
	for _, p := range activePods(e.pods(ns, selector)) {
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
	}
	return out
}

func containsImage(data []byte, image string) bool {
	return strings.Contains(string(data), `"image":"`+image+`"`)
}
