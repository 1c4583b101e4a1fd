package authz

import (
	"context"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"coracle.dev/apiserver/internal/authn"
)

var (
	anonymous    = &authn.User{Name: authn.Anonymous, Groups: []string{authn.AllUnauthenticated}}
	bootstrapper = &authn.User{Name: "system:bootstrap:abcdef", Groups: []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", authn.AllAuthenticated}}
	admin        = &authn.User{Name: "kubernetes-admin", Groups: []string{"system:masters", authn.AllAuthenticated}}
	node         = &authn.User{Name: "system:node:node-a", Groups: []string{"system:nodes", authn.AllAuthenticated}}
)

func path(u *authn.User, verb, p string) Attributes {
	return Attributes{User: u, Verb: verb, Path: p}
}

func resource(u *authn.User, verb, group, res, ns, name string) Attributes {
	return Attributes{User: u, Verb: verb, ResourceRequest: true, APIGroup: group, APIVersion: "v1", Resource: res, Namespace: ns, Name: name}
}

func csrs(u *authn.User, verb string) Attributes {
	return resource(u, verb, "certificates.k8s.io", "certificatesigningrequests", "", "")
}

func TestStatic(t *testing.T) {
	clusterInfo := func(u *authn.User) Attributes {
		return resource(u, "get", "", "configmaps", "kube-public", "cluster-info")
	}
	tests := []struct {
		name  string
		attrs Attributes
		allow bool
	}{
		{"anonymous gets /healthz", path(anonymous, "get", "/healthz"), true},
		{"anonymous gets /readyz", path(anonymous, "get", "/readyz"), true},
		{"anonymous gets /livez", path(anonymous, "get", "/livez"), true},
		{"anonymous gets /version", path(anonymous, "get", "/version"), true},
		{"anonymous may not post to /healthz", path(anonymous, "post", "/healthz"), false},
		{"anonymous gets cluster-info", clusterInfo(anonymous), true},
		{"anonymous may not list kube-public configmaps", resource(anonymous, "list", "", "configmaps", "kube-public", ""), false},
		{"anonymous may not get another kube-public configmap", resource(anonymous, "get", "", "configmaps", "kube-public", "other"), false},
		{"anonymous may not get a cluster-info elsewhere", resource(anonymous, "get", "", "configmaps", "default", "cluster-info"), false},
		{"anonymous may not update cluster-info", resource(anonymous, "update", "", "configmaps", "kube-public", "cluster-info"), false},
		{"anonymous may not read discovery", path(anonymous, "get", "/api"), false},
		{"anonymous may not read group discovery", path(anonymous, "get", "/apis/apps/v1"), false},
		{"anonymous may not read metrics", path(anonymous, "get", "/metrics"), false},
		{"anonymous may not list csrs", csrs(anonymous, "list"), false},
		{"an unauthenticated group member counts as anonymous", resource(&authn.User{Name: "x", Groups: []string{authn.AllUnauthenticated}}, "get", "", "pods", "default", "p"), false},
		{"bootstrapper gets /healthz", path(bootstrapper, "get", "/healthz"), true},
		{"bootstrapper gets cluster-info", clusterInfo(bootstrapper), true},
		{"bootstrapper reads /api", path(bootstrapper, "get", "/api"), true},
		{"bootstrapper reads /apis/certificates.k8s.io/v1", path(bootstrapper, "get", "/apis/certificates.k8s.io/v1"), true},
		{"bootstrapper reads /openapi/v3", path(bootstrapper, "get", "/openapi/v3"), true},
		{"bootstrapper may not read metrics", path(bootstrapper, "get", "/metrics"), false},
		{"bootstrapper creates a csr", csrs(bootstrapper, "create"), true},
		{"bootstrapper gets a csr", csrs(bootstrapper, "get"), true},
		{"bootstrapper lists csrs", csrs(bootstrapper, "list"), true},
		{"bootstrapper watches csrs", csrs(bootstrapper, "watch"), true},
		{"bootstrapper may not delete a csr", csrs(bootstrapper, "delete"), false},
		{"bootstrapper may not approve", func() Attributes {
			a := csrs(bootstrapper, "update")
			a.Subresource = "approval"
			return a
		}(), false},
		{"bootstrapper may not get the approval", func() Attributes {
			a := csrs(bootstrapper, "get")
			a.Subresource = "approval"
			return a
		}(), false},
		{"bootstrapper may not list nodes", resource(bootstrapper, "list", "", "nodes", "", ""), false},
		{"bootstrapper may not read secrets", resource(bootstrapper, "get", "", "secrets", "kube-system", "bootstrap-token-abcdef"), false},
		{"admin does anything", resource(admin, "delete", "", "secrets", "kube-system", "x"), true},
		{"admin reads metrics", path(admin, "get", "/metrics"), true},
		{"a node's own identity keeps full access until RBAC", resource(node, "update", "", "nodes", "", "node-a"), true},
		{"no user is refused", Attributes{Verb: "get", Path: "/healthz"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, err := Static{}.Authorize(context.Background(), tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if (d == DecisionAllow) != tt.allow {
				t.Errorf("decision %v, want allow=%v", d, tt.allow)
			}
		})
	}
}

func TestForbidden(t *testing.T) {
	tests := []struct {
		name   string
		attrs  Attributes
		reason string
		want   string
	}{
		{"cluster-scoped resource", csrs(anonymous, "list"), "",
			`certificatesigningrequests.certificates.k8s.io is forbidden: User "system:anonymous" cannot list resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope`},
		{"namespaced resource, named", resource(bootstrapper, "get", "", "secrets", "kube-system", "s1"), "",
			`secrets "s1" is forbidden: User "system:bootstrap:abcdef" cannot get resource "secrets" in API group "" in the namespace "kube-system"`},
		{"subresource", func() Attributes {
			a := csrs(bootstrapper, "update")
			a.Name, a.Subresource = "c1", "approval"
			return a
		}(), "",
			`certificatesigningrequests.certificates.k8s.io "c1" is forbidden: User "system:bootstrap:abcdef" cannot update resource "certificatesigningrequests/approval" in API group "certificates.k8s.io" at the cluster scope`},
		{"path", path(anonymous, "get", "/api"), "",
			`forbidden: User "system:anonymous" cannot get path "/api"`},
		{"with a reason, sanitized", path(anonymous, "get", "/<x>"), "no",
			`forbidden: User "system:anonymous" cannot get path "/&lt;x&gt;": no`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Forbidden(tt.attrs, tt.reason)
			if !apierrors.IsForbidden(err) || err.Status().Code != http.StatusForbidden {
				t.Fatalf("not a 403: %v", err)
			}
			if err.Error() != tt.want {
				t.Errorf("message\n got %s\nwant %s", err.Error(), tt.want)
			}
		})
	}
}
