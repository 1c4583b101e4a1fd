package authz

import (
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
