package deployment

import (
	"fmt"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controllerkit/templatehash"
)

func TestToCleanUp(t *testing.T) {
	d := deploy(1, "1", "0")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	var old []*appsv1.ReplicaSet
	for i, spec := range []int32{0, 0, 1, 0} {
		rs := replicaSet(fmt.Sprintf("rev%d", i+1), spec, spec, spec, 10-i)
		rs.Annotations[RevisionAnnotation] = strconv.Itoa(i + 1)
		old = append(old, rs)
	}
	var got []string
	for _, rs := range ToCleanUp(d, old) {
		got = append(got, rs.Name)
	}
	// Four old, keep one: the three lowest revisions, but rev3 still has
	// a pod.
	if fmt.Sprint(got) != "[rev1 rev2]" {
		t.Errorf("ToCleanUp = %v, want [rev1 rev2]", got)
	}
}

func TestReplicaSetAnnotationsOnRollback(t *testing.T) {
	d := deploy(1, "1", "0")
	d.Annotations = map[string]string{"team": "web", lastApplied: "{}"}
	rs := replicaSet("old", 0, 0, 0, 10)
	rs.Annotations[RevisionAnnotation] = "1"
	if !ReplicaSetAnnotations(d, rs, 3, true) {
		t.Fatal("no change reported")
	}
	if rs.Annotations[RevisionAnnotation] != "3" || fmt.Sprint(revisionHistory(rs)) != "[1]" {
		t.Errorf("revision %q history %v, want 3 and [1]", rs.Annotations[RevisionAnnotation], revisionHistory(rs))
	}
	if rs.Annotations["team"] != "web" || rs.Annotations[lastApplied] != "" {
		t.Errorf("annotations %v: want the Deployment's, without kubectl's", rs.Annotations)
	}
	if ReplicaSetAnnotations(d, rs, 3, true) {
		t.Error("second call changed something: not idempotent")
	}
}

func TestFindNewReplicaSetIgnoresHash(t *testing.T) {
	d := deploy(1, "1", "0")
	rs := replicaSet("web-abc", 1, 1, 1, 1)
	rs.Spec.Template = *d.Spec.Template.DeepCopy()
	rs.Spec.Template.Labels[HashLabel] = "abc"
	other := replicaSet("web-def", 1, 1, 1, 2)
	other.Spec.Template = *d.Spec.Template.DeepCopy()
	other.Spec.Template.Spec.Containers = []corev1.Container{{Name: "x", Image: "y"}}
	if got := FindNewReplicaSet(d, []*appsv1.ReplicaSet{other, rs}); got != rs {
		t.Errorf("FindNewReplicaSet = %v, want web-abc", got)
	}
	if templatehash.Hash(&d.Spec.Template, nil) == templatehash.Hash(&d.Spec.Template, ptr.To[int32](1)) {
		t.Error("collision count does not change the hash")
	}
}
