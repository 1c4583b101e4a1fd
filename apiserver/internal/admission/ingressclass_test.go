package admission

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNewestDefault(t *testing.T) {
	at := func(sec int64) metav1.Time { return metav1.NewTime(time.Unix(sec, 0)) }
	class := func(name string, created int64, isDefault bool) *networkingv1.IngressClass {
		c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created)}}
		if isDefault {
			c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
		}
		return c
	}
	isDefault := func(c *networkingv1.IngressClass) bool {
		return c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
	}
	for _, tc := range []struct {
		name    string
		classes []*networkingv1.IngressClass
		want    string // "" for none
	}{
		{"none", nil, ""},
		{"none marked", []*networkingv1.IngressClass{class("a", 1, false)}, ""},
		{"the one marked", []*networkingv1.IngressClass{class("a", 2, false), class("b", 1, true)}, "b"},
		{"the newest of several", []*networkingv1.IngressClass{class("old", 1, true), class("new", 3, true), class("mid", 2, true)}, "new"},
		{"same instant: first by name", []*networkingv1.IngressClass{class("zeta", 5, true), class("alpha", 5, true), class("older", 4, true)}, "alpha"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewestDefault(tc.classes, isDefault)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Errorf("got %q, want %q", name, tc.want)
			}
		})
	}
}
