package statefulset

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controllerkit/history"
	"coracle.dev/controller-manager/internal/controllerkit/templatehash"
)

func withImage(image string) *appsv1.StatefulSet {
	s := set(3, false)
	s.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}},
	}
	return s
}

func revision(t *testing.T, image string, number int64) *appsv1.ControllerRevision {
	t.Helper()
	r, err := NewRevision(withImage(image), number, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRevision(t *testing.T) {
	r := revision(t, "img:1", 3)
	if !strings.HasPrefix(r.Name, "db-") || r.Labels[RevisionHashLabel] != strings.TrimPrefix(r.Name, "db-") || r.Labels["app"] != "db" {
		t.Errorf("name %s labels %v", r.Name, r.Labels)
	}
	if r.Revision != 3 || r.Namespace != "ns" {
		t.Errorf("revision %d namespace %s", r.Revision, r.Namespace)
	}
	if ref := metav1.GetControllerOf(r); ref == nil || ref.UID != "set-uid" {
		t.Errorf("controller %+v", ref)
	}
	if !strings.Contains(string(r.Data.Raw), `"$patch":"replace"`) {
		t.Errorf("data %s is not a replacing patch", r.Data.Raw)
	}
	tmpl, err := history.TemplateOf(r)
	if err != nil || tmpl.Spec.Containers[0].Image != "img:1" || tmpl.Labels["app"] != "db" {
		t.Errorf("template back %+v, %v", tmpl, err)
	}
	if other := revision(t, "img:1", 7); other.Name != r.Name {
		t.Errorf("same template, names %s and %s: the name must not depend on the number", r.Name, other.Name)
	}
	if other := revision(t, "img:2", 3); other.Name == r.Name {
		t.Errorf("another template, same name %s", r.Name)
	}
	collided, _ := NewRevision(withImage("img:1"), 3, ptr.To[int32](1))
	if collided.Name == r.Name {
		t.Errorf("a collision count must change the name")
	}
}

func TestChooseUpdateRevision(t *testing.T) {
	r1, r2 := revision(t, "img:1", 1), revision(t, "img:2", 2)
	tests := []struct {
		name      string
		revisions []*appsv1.ControllerRevision
		image     string
		want      *appsv1.ControllerRevision
		step      RevisionStep
	}{
		{"no history: create", nil, "img:1", nil, CreateRevision},
		{"unchanged template: keep the newest", []*appsv1.ControllerRevision{r1, r2}, "img:2", r2, KeepRevision},
		{"back to an older template: roll back to it", []*appsv1.ControllerRevision{r1, r2}, "img:1", r1, RollBack},
		{"a new template: create", []*appsv1.ControllerRevision{r1, r2}, "img:3", nil, CreateRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proposed := revision(t, tt.image, history.Next(tt.revisions))
			got, step := ChooseUpdateRevision(tt.revisions, proposed)
			want := tt.want
			if want == nil {
				want = proposed
			}
			if got != want || step != tt.step {
				t.Errorf("got %s step %d, want %s step %d", got.Name, step, want.Name, tt.step)
			}
		})
	}
	if n := history.Next([]*appsv1.ControllerRevision{r1, r2}); n != 3 {
		t.Errorf("next revision %d, want 3", n)
	}
}

func TestCurrentRevision(t *testing.T) {
	r1, r2 := revision(t, "img:1", 1), revision(t, "img:2", 2)
	s := set(3, false)
	s.Status.CurrentRevision = r1.Name
	if got := CurrentRevision(s, []*appsv1.ControllerRevision{r1, r2}, r2); got != r1 {
		t.Errorf("current %s, want %s", got.Name, r1.Name)
	}
	s.Status.CurrentRevision = "db-gone"
	if got := CurrentRevision(s, []*appsv1.ControllerRevision{r1, r2}, r2); got != r2 {
		t.Errorf("a lost current revision: got %s, want the update revision", got.Name)
	}
}

func TestExpiredRevisions(t *testing.T) {
	var revs []*appsv1.ControllerRevision
	for i := 1; i <= 6; i++ {
		r := revision(t, fmt.Sprintf("img:%d", i), int64(i))
		r.Name = fmt.Sprintf("r%d", i)
		revs = append(revs, r)
	}
	limited := func(n int32) *appsv1.StatefulSet {
		s := set(3, false)
		s.Spec.RevisionHistoryLimit = ptr.To(n)
		return s
	}
	tests := []struct {
		name string
		set  *appsv1.StatefulSet
		pods []*corev1.Pod
		want string
	}{
		{"within the default limit of 10", set(3, false), nil, "[]"},
		{"oldest go first", limited(2), nil, "[r1 r2]"},
		{"revisions pods run are kept", limited(1), pods(pod(0, "ready", "r1"), pod(1, "ready", "r3")), "[r2]"},
		{"limit 0 keeps only live ones", limited(0), nil, "[r1 r2 r3 r4]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range ExpiredRevisions(tt.set, tt.pods, revs, "r5", "r6") {
				got = append(got, r.Name)
			}
			if s := fmt.Sprint(got); s != tt.want && !(got == nil && tt.want == "[]") {
				t.Errorf("expired %s, want %s", s, tt.want)
			}
		})
	}
}

// TestRevisionNameKeepsPodLabels: the revision of an unchanged template
// is named as pods were labelled before revisions were kept, so they
// are not rolled again.
func TestRevisionNameKeepsPodLabels(t *testing.T) {
	s := withImage("img:1")
	r := revision(t, "img:1", 1)
	if want := "db-" + templatehash.Hash(&s.Spec.Template, nil); r.Name != want {
		t.Errorf("name %s, want %s", r.Name, want)
	}
}
