package history

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func owner(image string) Owner {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "u1", Annotations: map[string]string{"note": "x"}},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
			Spec: corev1.PodSpec{
				Containers:                    []corev1.Container{{Name: "c", Image: image}},
				TerminationGracePeriodSeconds: ptr.To[int64](30),
			},
		}},
	}
	return Owner{Object: ds, Kind: appsv1.SchemeGroupVersion.WithKind("DaemonSet"), Template: &ds.Spec.Template, HashLabel: appsv1.ControllerRevisionHashLabelKey}
}

func revision(t *testing.T, image string, number int64) *appsv1.ControllerRevision {
	t.Helper()
	r, err := New(owner(image), number, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDataAsKubernetesWritesIt: the data is what Kubernetes' DaemonSet
// controller writes (the owner marshalled, read back into maps, the
// template marked "$patch":"replace", marshalled again), byte for byte,
// because clients (the conformance suite among them) compare bytes.
func TestDataAsKubernetesWritesIt(t *testing.T) {
	o := owner("img:1")
	raw, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	template := m["spec"].(map[string]any)["template"].(map[string]any)
	template["$patch"] = "replace"
	want, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
	got, err := Data(o.Template)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("data\n got %s\nwant %s", got, want)
	}
}

func TestNew(t *testing.T) {
	r := revision(t, "img:1", 3)
	hash := Hash(owner("img:1").Template, nil)
	if r.Name != "agent-"+hash || r.Namespace != "ns" || r.Revision != 3 {
		t.Errorf("name %s/%s revision %d", r.Namespace, r.Name, r.Revision)
	}
	if r.Labels["app"] != "agent" || r.Labels[appsv1.ControllerRevisionHashLabelKey] != hash || r.Annotations["note"] != "x" {
		t.Errorf("labels %v annotations %v", r.Labels, r.Annotations)
	}
	if ref := metav1.GetControllerOf(r); ref == nil || ref.Kind != "DaemonSet" || ref.UID != "u1" {
		t.Errorf("owner %+v", r.OwnerReferences)
	}
	tmpl, err := TemplateOf(r)
	if err != nil || tmpl.Spec.Containers[0].Image != "img:1" {
		t.Errorf("template %+v, %v", tmpl, err)
	}
	if _, err := TemplateOf(&appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}}); err == nil {
		t.Errorf("a revision without a template must be an error")
	}
	if Hash(owner("img:1").Template, ptr.To[int32](0)) != hash || Hash(owner("img:1").Template, ptr.To[int32](1)) == hash {
		t.Errorf("a collision count of 0 must not change the hash, one of 1 must")
	}
	if long := Name(strings.Repeat("a", 250), "h"); len(long) != 225 {
		t.Errorf("long name has %d characters", len(long))
	}
}

func TestEqual(t *testing.T) {
	a := revision(t, "img:1", 1)
	reordered := a.DeepCopy()
	// As another encoder may write it: keys in another order, spaces.
	reordered.Data = runtime.RawExtension{Raw: []byte(strings.Replace(string(canonical(a.Data.Raw)), `{"spec":{"template":{`, `{ "spec" : { "template" : {"$patch":"replace", `, 1))}
	tests := []struct {
		name string
		a, b *appsv1.ControllerRevision
		want bool
	}{
		{"same template", a, revision(t, "img:1", 5), true},
		{"same JSON in another order and spacing", a, reordered, true},
		{"another template", a, revision(t, "img:2", 1), false},
		{"nil and not", a, nil, false},
		{"nil and nil", nil, nil, true},
		{"not JSON", &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte("x")}}, &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte("x")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSortAndNext(t *testing.T) {
	a, b, c := revision(t, "a", 2), revision(t, "b", 1), revision(t, "c", 2)
	a.Name, c.Name = "agent-b", "agent-a"
	revs := []*appsv1.ControllerRevision{a, b, c}
	Sort(revs)
	if got := fmt.Sprintf("%d %s %s", revs[0].Revision, revs[1].Name, revs[2].Name); got != "1 agent-a agent-b" {
		t.Errorf("order %s", got)
	}
	if n := Next(revs); n != 3 {
		t.Errorf("next %d, want 3", n)
	}
	if n := Next(nil); n != 1 {
		t.Errorf("next of none %d, want 1", n)
	}
}
