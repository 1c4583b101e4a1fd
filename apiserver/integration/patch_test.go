package integration

import (
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPatchTypes(t *testing.T) {
	c := start(t)
	deps := c.client.AppsV1().Deployments("default")
	d := deployment("p", 1)
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, d.Spec.Template.Spec.Containers[0])
	d.Spec.Template.Spec.Containers[1].Name = "sidecar"
	if _, err := deps.Create(ctx(t), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		pt    types.PatchType
		patch string
		check func(t *testing.T, d string)
	}{
		{"strategic merge keeps the other container", types.StrategicMergePatchType,
			`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:1.37"}]}}}}`,
			func(t *testing.T, img string) {
				if img != "busybox:1.37,busybox:1.36" {
					t.Fatalf("images %s", img)
				}
			}},
		{"merge patch replaces the list", types.MergePatchType,
			`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:1.38"}]}}}}`,
			func(t *testing.T, img string) {
				if img != "busybox:1.38" {
					t.Fatalf("images %s", img)
				}
			}},
		{"json patch", types.JSONPatchType,
			`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"busybox:1.39"},{"op":"add","path":"/metadata/labels","value":{"patched":"yes"}}]`,
			func(t *testing.T, img string) {
				if img != "busybox:1.39" {
					t.Fatalf("images %s", img)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deps.Patch(ctx(t), "p", tt.pt, []byte(tt.patch), metav1.PatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var imgs []string
			for _, ctr := range got.Spec.Template.Spec.Containers {
				imgs = append(imgs, ctr.Image)
			}
			tt.check(t, strings.Join(imgs, ","))
		})
	}
	got, _ := deps.Get(ctx(t), "p", metav1.GetOptions{})
	if got.Labels["patched"] != "yes" || got.Generation < 4 {
		t.Fatalf("labels %v generation %d", got.Labels, got.Generation)
	}
}

func TestPatchWithStaleResourceVersionConflicts(t *testing.T) {
	c := start(t)
	cms := c.client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx(t), configMap("pv", map[string]string{"a": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx(t), "pv", types.MergePatchType, []byte(`{"data":{"a":"2"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = cms.Patch(ctx(t), "pv", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"`+cm.ResourceVersion+`"},"data":{"a":"3"}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("want Conflict, got %v", err)
	}
}

func TestPatchErrors(t *testing.T) {
	c := start(t)
	if _, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), configMap("pe", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/namespaces/default/configmaps/pe"
	tests := []struct {
		name string
		ct   string
		body string
		code int
		text string
	}{
		{"malformed merge patch", "application/merge-patch+json", `{"data":`, http.StatusBadRequest, "not valid JSON"},
		{"malformed json patch", "application/json-patch+json", `{"op":"add"}`, http.StatusBadRequest, "JSON patch is not valid"},
		{"json patch test fails", "application/json-patch+json", `[{"op":"test","path":"/data/x","value":"y"}]`, http.StatusUnprocessableEntity, "could not be applied"},
		{"unknown patch type", "text/plain", `{}`, http.StatusUnsupportedMediaType, "unknown format"},
		{"server-side apply without a manager", "application/apply-patch+yaml", `{}`, http.StatusUnprocessableEntity, "fieldManager: Required value: is required for apply patch"},
		{"patch to a wrong type", "application/merge-patch+json", `{"data":"notamap"}`, http.StatusBadRequest, "cannot be handled as a ConfigMap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(t, http.MethodPatch, path, tt.ct, []byte(tt.body))
			if r.code != tt.code || !strings.Contains(string(r.body), tt.text) {
				t.Fatalf("got %d %s, want %d containing %q", r.code, r.body, tt.code, tt.text)
			}
		})
	}
	r := c.do(t, http.MethodPatch, "/api/v1/namespaces/default/configmaps/absent", "application/merge-patch+json", []byte(`{}`))
	if r.code != http.StatusNotFound {
		t.Fatalf("patch of a missing object: %d", r.code)
	}
}
