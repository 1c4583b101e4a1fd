package daemonset

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func withImage(image string) *appsv1.DaemonSet {
	d := ds()
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: image}}
	return d
}

func rev(t *testing.T, image string, number int64) *appsv1.ControllerRevision {
	t.Helper()
	r, err := NewRevision(withImage(image), number, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func revNames(revs []*appsv1.ControllerRevision) string {
	var out []string
	for _, r := range revs {
		out = append(out, fmt.Sprintf("%s@%d", r.Name, r.Revision))
	}
	return fmt.Sprint(out)
}

func TestNewRevisionAndSplit(t *testing.T) {
	r1, r2 := rev(t, "img:1", 1), rev(t, "img:2", 2)
	if r1.Name != "agent-"+r1.Labels[HashLabel] || r1.Labels["app"] != "agent" {
		t.Errorf("name %s labels %v", r1.Name, r1.Labels)
	}
	collided, _ := NewRevision(withImage("img:1"), 1, ptr.To[int32](1))
	if collided.Name == r1.Name {
		t.Errorf("a collision count must change the name")
	}
	copyOf := r1.DeepCopy()
	copyOf.Name, copyOf.Revision = "agent-copy", 3
	current, old := SplitHistory([]*appsv1.ControllerRevision{r1, r2, copyOf}, rev(t, "img:1", 0))
	if len(current) != 2 || len(old) != 1 || old[0] != r2 {
		t.Errorf("current %d old %v", len(current), old)
	}
	if keep := KeepOf(current); keep != copyOf {
		t.Errorf("kept %s, want the highest numbered", keep.Name)
	}
}

func TestIsUpdated(t *testing.T) {
	d := ds()
	d.Annotations = map[string]string{GenerationLabel: "2"}
	p := pod("p", "n", "h1", true)
	tests := []struct {
		name   string
		labels map[string]string
		hash   string
		want   bool
	}{
		{"hash matches", map[string]string{HashLabel: "h1"}, "h1", true},
		{"template generation matches", map[string]string{HashLabel: "old", GenerationLabel: "2"}, "h1", true},
		{"neither", map[string]string{HashLabel: "old", GenerationLabel: "1"}, "h1", false},
		{"no hash asked, no generation", map[string]string{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Labels = tt.labels
			if got := isUpdated(d, p, tt.hash); got != tt.want {
				t.Errorf("isUpdated = %v, want %v", got, tt.want)
			}
		})
	}
	d.Annotations[GenerationLabel] = "x"
	p.Labels = map[string]string{GenerationLabel: "x"}
	if isUpdated(d, p, "h1") {
		t.Errorf("a generation that is not a number must not count")
	}
}

func TestExpiredRevisions(t *testing.T) {
	var old []*appsv1.ControllerRevision
	for i := 1; i <= 5; i++ {
		old = append(old, rev(t, fmt.Sprintf("img:%d", i), int64(i)))
	}
	// Listed newest first: the oldest must go first all the same.
	reversed := []*appsv1.ControllerRevision{old[4], old[3], old[2], old[1], old[0]}
	running := pod("p", "n", old[0].Labels[HashLabel], true)
	tests := []struct {
		name  string
		limit *int32
		pods  []*corev1.Pod
		want  []*appsv1.ControllerRevision
	}{
		{"within the default limit", nil, nil, nil},
		{"oldest beyond the limit", ptr.To[int32](3), nil, old[:2]},
		{"a revision a pod runs stays; the next oldest go instead", ptr.To[int32](3), []*corev1.Pod{running}, old[1:3]},
		{"limit zero", ptr.To[int32](0), nil, old},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ds()
			d.Spec.RevisionHistoryLimit = tt.limit
			got := ExpiredRevisions(d, tt.pods, reversed)
			if revNames(got) != revNames(tt.want) {
				t.Errorf("expired %s, want %s", revNames(got), revNames(tt.want))
			}
		})
	}
}
