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
		{"proxy with a path", http.MethodDelete, "", "namespaces/ns1/pods/web:8080/proxy/a/b", false,
			RequestInfo{Verb: "delete", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "web:8080", Subresource: "proxy", Extra: []string{"a", "b"}}},
		{"a proxied query's watch is the backend's", http.MethodGet, "", "namespaces/ns1/services/web/proxy/", true,
			RequestInfo{Verb: "get", Version: "v1", Namespace: "ns1", Resource: "services", Name: "web", Subresource: "proxy"}},
		{"OPTIONS through a proxy has no verb", http.MethodOptions, "", "nodes/n1/proxy/healthz", false,
			RequestInfo{Version: "v1", Resource: "nodes", Name: "n1", Subresource: "proxy", Extra: []string{"healthz"}}},
		{"attach by GET", http.MethodGet, "", "namespaces/ns1/pods/web/attach", false, RequestInfo{Verb: "get", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "web", Subresource: "attach"}},
		{"port-forward by POST", http.MethodPost, "", "namespaces/ns1/pods/web/portforward", false, RequestInfo{Verb: "create", Version: "v1", Namespace: "ns1", Resource: "pods", Name: "web", Subresource: "portforward"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRequestInfo(tt.method, tt.group, "v1", tt.rest, tt.watch)
			if !ok || !got.IsResourceRequest {
				t.Fatalf("not parsed as a resource request: %+v", got)
			}
			got.IsResourceRequest = false
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

func TestNewRequestInfo(t *testing.T) {
	res := func(verb, group, ns, resource, name, sub string) RequestInfo {
		return RequestInfo{IsResourceRequest: true, Verb: verb, Group: group, Version: "v1", Namespace: ns, Resource: resource, Name: name, Subresource: sub}
	}
	tests := []struct {
		name   string
		method string
		target string
		want   RequestInfo
	}{
		{"health is a path", http.MethodGet, "/healthz", RequestInfo{Verb: "get"}},
		{"core discovery is a path", http.MethodGet, "/api", RequestInfo{Verb: "get"}},
		{"core version discovery is a path", http.MethodGet, "/api/v1", RequestInfo{Verb: "get"}},
		{"group discovery is a path", http.MethodGet, "/apis/apps", RequestInfo{Verb: "get"}},
		{"group version discovery is a path", http.MethodGet, "/apis/apps/v1", RequestInfo{Verb: "get"}},
		{"a path's verb is its method", http.MethodPost, "/metrics", RequestInfo{Verb: "post"}},
		{"core resource", http.MethodGet, "/api/v1/namespaces/kube-public/configmaps/cluster-info", res("get", "", "kube-public", "configmaps", "cluster-info", "")},
		{"group resource", http.MethodPut, "/apis/certificates.k8s.io/v1/certificatesigningrequests/c1/approval", res("update", "certificates.k8s.io", "", "certificatesigningrequests", "c1", "approval")},
		{"watch parameter", http.MethodGet, "/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=true", res("watch", "certificates.k8s.io", "", "certificatesigningrequests", "", "")},
		{"a namespace is in its own namespace", http.MethodDelete, "/api/v1/namespaces/ns1", res("delete", "", "ns1", "namespaces", "ns1", "")},
		{"namespaces list is cluster-scoped", http.MethodGet, "/api/v1/namespaces", res("list", "", "", "namespaces", "", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(tt.method, "https://h"+tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := NewRequestInfo(r)
			tt.want.Path = r.URL.Path
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
