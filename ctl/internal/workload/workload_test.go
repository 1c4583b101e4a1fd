package workload

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(kind string, content map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: content}
	u.SetKind(kind)
	return u
}

func TestSelector(t *testing.T) {
	matchLabels := map[string]any{"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}}
	cases := []struct {
		name    string
		obj     *unstructured.Unstructured
		want    string
		wantErr bool
	}{
		{"a deployment selects by matchLabels", obj("Deployment", matchLabels), "app=web", false},
		{"a service selects by its selector", obj("Service", map[string]any{"spec": map[string]any{"selector": map[string]any{"app": "web"}}}), "app=web", false},
		{"a pod selects by its labels", obj("Pod", map[string]any{"metadata": map[string]any{"labels": map[string]any{"run": "x"}}}), "run=x", false},
		{"a pod without labels cannot be exposed", obj("Pod", map[string]any{}), "", true},
		{"a config map selects nothing", obj("ConfigMap", map[string]any{}), "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Selector(tc.obj)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Selector = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestPodSpecPath(t *testing.T) {
	for kind, want := range map[string]int{"Pod": 1, "Deployment": 3, "CronJob": 5} {
		if p, ok := PodSpecPath(kind); !ok || len(p) != want {
			t.Errorf("PodSpecPath(%s) = %v, %v", kind, p, ok)
		}
	}
	if _, ok := PodSpecPath("Service"); ok {
		t.Error("a Service has a pod spec")
	}
}
