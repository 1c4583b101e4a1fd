package controller

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

func pod(name string, owner *metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

func controllerRef(kind schema.GroupVersionKind, name string) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: kind.GroupVersion().String(), Kind: kind.Kind, Name: name, UID: "uid-" + types.UID(name), Controller: new(true)}
}

// Handlers hand a delete the object a tombstone stands for, and skip
// objects of another type.
func TestHandlers(t *testing.T) {
	var got []string
	h := Handlers[*corev1.Pod]{
		Add:    func(p *corev1.Pod) { got = append(got, "add "+p.Name) },
		Update: func(old, p *corev1.Pod) { got = append(got, "update "+old.Name+">"+p.Name) },
		Delete: func(p *corev1.Pod) { got = append(got, "delete "+p.Name) },
	}
	h.OnAdd(pod("a", nil), false)
	h.OnUpdate(pod("a", nil), pod("b", nil))
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/c", Obj: pod("c", nil)})
	h.OnAdd(&corev1.Node{}, false)
	Handlers[*corev1.Pod]{}.OnAdd(pod("d", nil), false) // no Add: skipped
	want := "[add a update a>b delete c]"
	if g := "[" + strings.Join(got, " ") + "]"; g != want {
		t.Errorf("handled %s, want %s", g, want)
	}
}

func TestOwnerKey(t *testing.T) {
	other := controllerRef(jobKind, "j")
	other.APIVersion = "batch/v2"
	notController := controllerRef(jobKind, "j")
	notController.Controller = nil
	tests := []struct {
		name   string
		pod    *corev1.Pod
		want   string
		wantOK bool
	}{
		{"controlled by a Job", pod("p", controllerRef(jobKind, "j")), "ns/j", true},
		{"no owner", pod("p", nil), "", false},
		{"controller of another kind", pod("p", controllerRef(corev1.SchemeGroupVersion.WithKind("ReplicationController"), "j")), "", false},
		{"same kind, another group version", pod("p", other), "", false},
		{"an owner that is not the controller", pod("p", notController), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := OwnerKey(tt.pod, jobKind)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("OwnerKey = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
