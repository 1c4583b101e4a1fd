package apply

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func obj(s string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(s)); err != nil {
		panic(err)
	}
	return u
}

func TestModifiedRecordsItselfWithoutTheAnnotation(t *testing.T) {
	u := obj(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"old"}},"data":{"k":"v"}}`)
	modified, err := Modified(u)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(modified, &m)
	ann := m["metadata"].(map[string]any)["annotations"].(map[string]any)[LastApplied].(string)
	want := `{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"annotations":{},"name":"a"}}` + "\n"
	if ann != want {
		t.Errorf("recorded %q, want %q", ann, want)
	}
	if u.GetAnnotations()[LastApplied] != "old" {
		t.Error("Modified changed its argument")
	}
}

func TestThreeWay(t *testing.T) {
	deploy := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	widget := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	cases := []struct {
		name     string
		gvk      schema.GroupVersionKind
		original string
		modified string
		current  string
		wantType types.PatchType
		want     string
	}{
		{"containers merge by name and others' fields stay", deploy,
			`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"v1"}]}}}}`,
			`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"v2"}]}}}}`,
			`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"v1","env":[{"name":"X","value":"1"}]}]}}}}`,
			types.StrategicMergePatchType,
			`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"image":"v2","name":"a"}]}}}}`},
		{"a removed list item is deleted by key", deploy,
			`{"spec":{"template":{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}}}`,
			`{"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}}`,
			`{"spec":{"template":{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}}}`,
			types.StrategicMergePatchType,
			`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"$patch":"delete","name":"b"}]}}}}`},
		{"nothing to do is an empty patch", deploy, `{"spec":{"replicas":2}}`, `{"spec":{"replicas":2}}`, `{"spec":{"replicas":2,"paused":false}}`, types.StrategicMergePatchType, `{}`},
		{"kinds without a Go type get a JSON merge patch", widget, `{"spec":{"a":1,"b":2}}`, `{"spec":{"a":1}}`, `{"spec":{"a":1,"b":2,"c":3}}`, types.MergePatchType, `{"spec":{"b":null}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			patch, pt, err := ThreeWay(tc.gvk, []byte(tc.original), []byte(tc.modified), []byte(tc.current))
			if err != nil {
				t.Fatal(err)
			}
			if pt != tc.wantType || strings.TrimSpace(string(patch)) != tc.want {
				t.Errorf("patch %s (%s), want %s (%s)", patch, pt, tc.want, tc.wantType)
			}
		})
	}
}
