package integration

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/servertest"
	"coracle.dev/apiserver/server"
)

// TestDefaultIngressClass: a new Ingress that names no class gets the
// default IngressClass (the newest of several defaults); one that names a
// class, by the field or the legacy annotation, keeps what it said; an
// update does not default; and the plugin can be turned off.
func TestDefaultIngressClass(t *testing.T) {
	newIngress := func(name string) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
			}},
		}
	}
	class := func(name string, isDefault bool) *networkingv1.IngressClass {
		c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/" + name}}
		if isDefault {
			c.Annotations = map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
		}
		return c
	}

	t.Run("on", func(t *testing.T) {
		c := start(t)
		cx := ctx(t)
		ingresses := c.client.NetworkingV1().Ingresses("default")
		classOf := func(ing *networkingv1.Ingress) string { return ptr.Deref(ing.Spec.IngressClassName, "<nil>") }
		create := func(ing *networkingv1.Ingress) *networkingv1.Ingress {
			t.Helper()
			got, err := ingresses.Create(cx, ing, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create ingress %s: %v", ing.Name, err)
			}
			return got
		}
		if got := create(newIngress("before")); got.Spec.IngressClassName != nil {
			t.Errorf("no default class yet, but the Ingress got %q", classOf(got))
		}
		for _, ic := range []*networkingv1.IngressClass{class("plain", false), class("older", true)} {
			if _, err := c.client.NetworkingV1().IngressClasses().Create(cx, ic, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if got := create(newIngress("defaulted")); classOf(got) != "older" {
			t.Errorf("class %q, want the default older", classOf(got))
		}
		named := newIngress("named")
		named.Spec.IngressClassName = ptr.To("plain")
		if got := create(named); classOf(got) != "plain" {
			t.Errorf("class %q, want plain as named", classOf(got))
		}
		legacy := newIngress("legacy")
		legacy.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
		if got := create(legacy); got.Spec.IngressClassName != nil {
			t.Errorf("an Ingress with the legacy annotation got class %q", classOf(got))
		}
		// Creation times have a second's resolution: the newer default
		// must be created in a later second to be the newest.
		older, err := c.client.NetworkingV1().IngressClasses().Get(cx, "older", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for time.Now().Truncate(time.Second).Equal(older.CreationTimestamp.Time) {
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := c.client.NetworkingV1().IngressClasses().Create(cx, class("newer", true), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := create(newIngress("second")); classOf(got) != "newer" {
			t.Errorf("class %q, want the newest default newer", classOf(got))
		}
		// An update never defaults: only creation does.
		before, err := ingresses.Get(cx, "before", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before.Labels = map[string]string{"touched": "yes"}
		if got, err := ingresses.Update(cx, before, metav1.UpdateOptions{}); err != nil || got.Spec.IngressClassName != nil {
			t.Errorf("update: class %q, %v; want none", classOf(got), err)
		}
	})

	t.Run("disabled", func(t *testing.T) {
		c := start(t, servertest.WithConfig(func(cfg *server.Config) {
			cfg.DisableAdmissionPlugins = append(cfg.DisableAdmissionPlugins, server.AdmissionDefaultIngressClass)
		}))
		cx := ctx(t)
		if _, err := c.client.NetworkingV1().IngressClasses().Create(cx, class("coracle", true), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := c.client.NetworkingV1().Ingresses("default").Create(cx, newIngress("web"), metav1.CreateOptions{})
		if err != nil || got.Spec.IngressClassName != nil {
			t.Fatalf("with DefaultIngressClass off: %v, %v; want no class", got.Spec.IngressClassName, err)
		}
	})
}
