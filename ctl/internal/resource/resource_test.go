package resource

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func mapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Node"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	return m
}

func describeTargets(ts []Target) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, t.Mapping.Resource.Resource+"["+strings.Join(t.Names, ",")+"]")
	}
	return strings.Join(parts, " ")
}

func TestParseArgs(t *testing.T) {
	r := &Resolver{Mapper: mapper()}
	cases := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"a type lists", []string{"pods"}, "pods[]", ""},
		{"a type and names", []string{"pods", "a", "b"}, "pods[a,b]", ""},
		{"several types share the names", []string{"pods,services", "x"}, "pods[x] services[x]", ""},
		{"type/name pairs group by type", []string{"pod/a", "pods/b", "deployment.apps/web"}, "pods[a,b] deployments[web]", ""},
		{"a Kind works as a type", []string{"Deployment"}, "deployments[]", ""},
		{"group-qualified resource", []string{"deployments.apps", "web"}, "deployments[web]", ""},
		{"mixing forms is refused", []string{"pods", "pod/a"}, "", "there is no need to specify a resource type as a separate argument"},
		{"no type", nil, "", "you must specify the type of resource to get"},
		{"an unknown type", []string{"foo"}, "", `no matches for /, Resource=foo`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := r.ParseArgs(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || describeTargets(ts) != tc.want {
				t.Fatalf("got %q %v, want %q", describeTargets(ts), err, tc.want)
			}
		})
	}
}

func TestPathAndRefs(t *testing.T) {
	r := &Resolver{Mapper: mapper()}
	d, _ := r.Mapping("deployments")
	n, _ := r.Mapping("nodes")
	if got := Path(d, "ns", "web"); got != "/apis/apps/v1/namespaces/ns/deployments/web" {
		t.Errorf("deployment path %s", got)
	}
	if got := Path(n, "ns", ""); got != "/api/v1/nodes" {
		t.Errorf("node path %s", got)
	}
	info := &Info{Mapping: d, Name: "web"}
	if info.Ref() != "deployment.apps/web" || info.Quoted() != `deployment.apps "web"` {
		t.Errorf("refs %s %s", info.Ref(), info.Quoted())
	}
}
