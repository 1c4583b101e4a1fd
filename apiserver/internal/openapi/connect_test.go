package openapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// TestConnectAndEphemeralPaths: the connect subresources (pods' exec,
// attach, portforward and proxy, services' and nodes' proxy, with and
// without a path) and pods/ephemeralcontainers are documented as
// kube-apiserver v1.37.2's swagger.json has them: the same operation
// IDs, kind and parameters, which kubectl and client generators read.
func TestConnectAndEphemeralPaths(t *testing.T) {
	_, url := serve(t)
	s := swagger(t, url)
	tests := []struct {
		path   string
		kind   string
		ops    []string
		params []string // name/in, sorted
	}{
		// Made from k8s.io/kubernetes@v1.37.2/api/openapi-spec/swagger.json.
		{"/api/v1/namespaces/{namespace}/pods/{name}/exec", "PodExecOptions", []string{"connectCoreV1GetNamespacedPodExec", "connectCoreV1PostNamespacedPodExec"}, []string{"command/query", "container/query", "name/path", "namespace/path", "stderr/query", "stdin/query", "stdout/query", "tty/query"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/attach", "PodAttachOptions", []string{"connectCoreV1GetNamespacedPodAttach", "connectCoreV1PostNamespacedPodAttach"}, []string{"container/query", "name/path", "namespace/path", "stderr/query", "stdin/query", "stdout/query", "tty/query"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/portforward", "PodPortForwardOptions", []string{"connectCoreV1GetNamespacedPodPortforward", "connectCoreV1PostNamespacedPodPortforward"}, []string{"name/path", "namespace/path", "ports/query"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/proxy", "PodProxyOptions", []string{"connectCoreV1GetNamespacedPodProxy", "connectCoreV1PutNamespacedPodProxy", "connectCoreV1PostNamespacedPodProxy", "connectCoreV1DeleteNamespacedPodProxy", "connectCoreV1OptionsNamespacedPodProxy", "connectCoreV1HeadNamespacedPodProxy", "connectCoreV1PatchNamespacedPodProxy"}, []string{"name/path", "namespace/path", "path/query"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}", "PodProxyOptions", []string{"connectCoreV1GetNamespacedPodProxyWithPath", "connectCoreV1PutNamespacedPodProxyWithPath", "connectCoreV1PostNamespacedPodProxyWithPath", "connectCoreV1DeleteNamespacedPodProxyWithPath", "connectCoreV1OptionsNamespacedPodProxyWithPath", "connectCoreV1HeadNamespacedPodProxyWithPath", "connectCoreV1PatchNamespacedPodProxyWithPath"}, []string{"name/path", "namespace/path", "path/path", "path/query"}},
		{"/api/v1/namespaces/{namespace}/services/{name}/proxy", "ServiceProxyOptions", []string{"connectCoreV1GetNamespacedServiceProxy", "connectCoreV1PutNamespacedServiceProxy", "connectCoreV1PostNamespacedServiceProxy", "connectCoreV1DeleteNamespacedServiceProxy", "connectCoreV1OptionsNamespacedServiceProxy", "connectCoreV1HeadNamespacedServiceProxy", "connectCoreV1PatchNamespacedServiceProxy"}, []string{"name/path", "namespace/path", "path/query"}},
		{"/api/v1/namespaces/{namespace}/services/{name}/proxy/{path}", "ServiceProxyOptions", []string{"connectCoreV1GetNamespacedServiceProxyWithPath", "connectCoreV1PutNamespacedServiceProxyWithPath", "connectCoreV1PostNamespacedServiceProxyWithPath", "connectCoreV1DeleteNamespacedServiceProxyWithPath", "connectCoreV1OptionsNamespacedServiceProxyWithPath", "connectCoreV1HeadNamespacedServiceProxyWithPath", "connectCoreV1PatchNamespacedServiceProxyWithPath"}, []string{"name/path", "namespace/path", "path/path", "path/query"}},
		{"/api/v1/nodes/{name}/proxy", "NodeProxyOptions", []string{"connectCoreV1GetNodeProxy", "connectCoreV1PutNodeProxy", "connectCoreV1PostNodeProxy", "connectCoreV1DeleteNodeProxy", "connectCoreV1OptionsNodeProxy", "connectCoreV1HeadNodeProxy", "connectCoreV1PatchNodeProxy"}, []string{"name/path", "path/query"}},
		{"/api/v1/nodes/{name}/proxy/{path}", "NodeProxyOptions", []string{"connectCoreV1GetNodeProxyWithPath", "connectCoreV1PutNodeProxyWithPath", "connectCoreV1PostNodeProxyWithPath", "connectCoreV1DeleteNodeProxyWithPath", "connectCoreV1OptionsNodeProxyWithPath", "connectCoreV1HeadNodeProxyWithPath", "connectCoreV1PatchNodeProxyWithPath"}, []string{"name/path", "path/path", "path/query"}},
		{"/api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers", "Pod", []string{"readCoreV1NamespacedPodEphemeralcontainers", "replaceCoreV1NamespacedPodEphemeralcontainers", "patchCoreV1NamespacedPodEphemeralcontainers"}, []string{"name/path", "namespace/path", "pretty/query"}},
	}
	for _, tt := range tests {
		item, ok := s.Paths.Paths[tt.path]
		if !ok {
			t.Errorf("%s: not documented", tt.path)
			continue
		}
		var ops []string
		for _, op := range []*spec.Operation{item.Get, item.Put, item.Post, item.Delete, item.Options, item.Head, item.Patch} {
			if op == nil {
				continue
			}
			ops = append(ops, op.ID)
			if g := opKind(op); g["kind"] != tt.kind || g["group"] != "" || g["version"] != "v1" {
				t.Errorf("%s %s: kind %v, want v1 %s", tt.path, op.ID, g, tt.kind)
			}
		}
		if !slices.Equal(ops, tt.ops) {
			t.Errorf("%s: operations\n  %v\nwant\n  %v", tt.path, ops, tt.ops)
		}
		var params []string
		for _, p := range item.Parameters {
			if ref := p.Ref.String(); ref != "" {
				p = s.Parameters[strings.TrimPrefix(ref, "#/parameters/")]
			}
			params = append(params, p.Name+"/"+p.In)
			if p.Name == "name" && p.Description != "name of the "+tt.kind {
				t.Errorf("%s: name is %q, want the %s's", tt.path, p.Description, tt.kind)
			}
		}
		slices.Sort(params)
		if !slices.Equal(params, tt.params) {
			t.Errorf("%s: parameters %v, want %v", tt.path, params, tt.params)
		}
	}

	// The v3 document of core/v1 has them too.
	core := v3doc(t, url, v3root(t, url), "api/v1")
	if get := core.Paths.Paths["/api/v1/namespaces/{namespace}/services/{name}/proxy/{path}"]; get == nil || get.Get == nil ||
		get.Get.OperationId != "connectCoreV1GetNamespacedServiceProxyWithPath" {
		t.Errorf("v3 services/proxy with a path: %+v", get)
	}
}

// opKind is an operation's x-kubernetes-group-version-kind.
func opKind(op *spec.Operation) map[string]any {
	var out map[string]any
	raw, _ := json.Marshal(op.Extensions["x-kubernetes-group-version-kind"])
	_ = json.Unmarshal(raw, &out)
	return out
}
