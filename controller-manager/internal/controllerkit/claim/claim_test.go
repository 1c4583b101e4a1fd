package claim

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestDecide(t *testing.T) {
	now := metav1.Now()
	owner := func(deleting bool) *metav1.ObjectMeta {
		o := &metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "owner"}
		if deleting {
			o.DeletionTimestamp = &now
		}
		return o
	}
	obj := func(ns string, lbl string, controller string) *metav1.ObjectMeta {
		o := &metav1.ObjectMeta{Name: "p", Namespace: ns, Labels: map[string]string{"app": lbl}}
		if controller != "" {
			o.OwnerReferences = []metav1.OwnerReference{{UID: "x", Name: "c", Controller: ptr.To(true)}}
			o.OwnerReferences[0].UID = typesUID(controller)
		}
		return o
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	tests := []struct {
		name  string
		owner *metav1.ObjectMeta
		obj   *metav1.ObjectMeta
		want  Decision
	}{
		{"matching orphan is adopted", owner(false), obj("ns", "web", ""), Adopt},
		{"orphan in another namespace is ignored", owner(false), obj("other", "web", ""), Ignore},
		{"non-matching orphan is ignored", owner(false), obj("ns", "db", ""), Ignore},
		{"owned and matching is kept", owner(false), obj("ns", "web", "owner"), Keep},
		{"owned and no longer matching is released", owner(false), obj("ns", "db", "owner"), Release},
		{"owned by another controller is ignored", owner(false), obj("ns", "web", "other"), Ignore},
		{"deleting owner adopts nothing", owner(true), obj("ns", "web", ""), Ignore},
		{"deleting owner releases nothing", owner(true), obj("ns", "db", "owner"), Keep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.owner, tt.obj, sel); got != tt.want {
				t.Errorf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}

func typesUID(s string) types.UID { return types.UID(s) }
