package addontest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDecode(t *testing.T) {
	objs, err := Decode([]byte(`# a comment-only document
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: kube-system}
data: {k: v}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects, want 2", len(objs))
	}
	if cm := Only[*corev1.ConfigMap](t, objs); cm.Name != "a" || cm.Data["k"] != "v" || cm.Kind != "ConfigMap" {
		t.Errorf("config map %+v", cm)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndatta: {}\n", `unknown field "datta"`},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n", `already set`},
		{"unknown kind", "apiVersion: v1\nkind: Nothing\nmetadata: {name: a}\n", `no kind "Nothing"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ok}\n---\n" + tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "document 2") {
				t.Errorf("error %v, want one about document 2 saying %q", err, tc.want)
			}
		})
	}
}
