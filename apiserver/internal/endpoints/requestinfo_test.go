package endpoints

import (
	"net/http"
	"reflect"
	"testing"
)

func TestParseRequestInfo(t *testing.T) {
	tests := []struct {
		name   string
		method string
		group  string
		rest   string
		watch  bool
		want   RequestInfo
	}{
		{"list across namespaces", http.MethodGet, "", "pods", false, RequestInfo{Verb: "list", Version: "v1", Resource: "pods"}},
		{"list in a namespace", http.MethodGet, "", "namespaces/ns1/pods", false, RequestInfo{Verb: "list", Version: "v1", Namespace: "ns1", Resource: "pods"}},
		{"get one object", http.MethodGet, "", "namespaces/ns1/pods/web", false, RequestInfo{Verb: "get", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "web"}},
		{"subresource", http.MethodPut, "", "namespaces/ns1/pods/web/status", false, RequestInfo{Verb: "update", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "web", Subresource: "status"}},
		{"namespace object", http.MethodGet, "", "namespaces/ns1", false, RequestInfo{Verb: "get", Version: "v1", Resource: "namespaces", Name: "ns1"}},
		{"namespace finalize", http.MethodPut, "", "namespaces/ns1/finalize", false, RequestInfo{Verb: "update", Version: "v1", Resource: "namespaces", Name: "ns1", Subresource: "finalize"}},
		{"namespace list", http.MethodGet, "", "namespaces", false, RequestInfo{Verb: "list", Version: "v1", Resource: "namespaces"}},
		{"watch parameter", http.MethodGet, "apps", "namespaces/ns1/deployments", true, RequestInfo{Verb: "watch", Group: "apps", Version: "v1", Namespace: "ns1", Resource: "deployments"}},
		{"watch prefix", http.MethodGet, "", "watch/namespaces/ns1/pods/web", false, RequestInfo{Verb: "watch", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "web"}},
		{"cluster-scoped subresource", http.MethodPatch, "", "nodes/n1/status", false, RequestInfo{Verb: "patch", Version: "v1", Resource: "nodes", Name: "n1", Subresource: "status"}},
		{"delete collection", http.MethodDelete, "", "namespaces/ns1/configmaps", false, RequestInfo{Verb: "deletecollection", Version: "v1", Namespace: "ns1", Resource: "configmaps"}},
		{"create", http.MethodPost, "", "namespaces/ns1/pods/web/binding", false, RequestInfo{Verb: "create", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "web", Subresource: "binding"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRequestInfo(tt.method, tt.group, "v1", tt.rest, tt.watch)
			if !ok {
				t.Fatal("not parsed")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, ok := parseRequestInfo(http.MethodGet, "", "v1", "", false); ok {
		t.Error("empty path parsed")
	}
	if _, ok := parseRequestInfo("OPTIONS", "", "v1", "pods", false); ok {
		t.Error("OPTIONS parsed")
	}
}
