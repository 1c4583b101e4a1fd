// Package authz is the contract of the apiserver's authorizers, as
// kube-apiserver's: the attributes of a request, a decision, a chain of
// authorizers (--authorization-mode: system:masters first, then the Node
// authorizer and RBAC, in internal/nodeauth and internal/rbac), and the
// 403 worded as Kubernetes words it.
package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"coracle.dev/apiserver/internal/authn"
)

// Attributes are what a request asks to do, as Kubernetes'
// authorizer.Attributes: a verb on a resource (group, resource,
// subresource, namespace, name) or, for a non-resource request, on a
// path.
type Attributes struct {
	User *authn.User
	// Verb is get, list, watch, create, update, patch, delete,
	// deletecollection; for a non-resource request the HTTP method in
	// lower case.
	Verb string

	ResourceRequest bool
	APIGroup        string
	APIVersion      string
	Namespace       string
	Resource        string
	Subresource     string
	Name            string

	// Path is the URL path, what a non-resource request is authorized on.
	Path string
}

// Decision is an authorizer's answer.
type Decision int

const (
	// DecisionDeny refuses the request whatever other authorizers say.
	DecisionDeny Decision = iota
	// DecisionAllow lets the request through.
	DecisionAllow
	// DecisionNoOpinion leaves the request to other authorizers; when
	// none allows it, it is refused.
	DecisionNoOpinion
)

// Authorizer decides on one request. reason, when not empty, is added to
// the 403's message; err means the authorizer could not decide (the
// request fails with 500 unless the decision is Allow). Implementations
// are safe for concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (decision Decision, reason string, err error)
}

// Forbidden is the 403 for a refused request, with Kubernetes' message:
//
//	pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"
//	forbidden: User "system:anonymous" cannot get path "/api"
func Forbidden(a Attributes, reason string) *apierrors.StatusError {
	msg := forbiddenMessage(a)
	if reason != "" {
		msg += ": " + reason
	}
	gr := schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}
	return apierrors.NewForbidden(gr, a.Name, errors.New(sanitizer.Replace(msg)))
}

// sanitizer keeps what a client sent from reading as HTML in the message.
var sanitizer = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;")

func forbiddenMessage(a Attributes) string {
	name := ""
	if a.User != nil {
		name = a.User.Name
	}
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.Path)
	}
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	if a.Namespace != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.Verb, resource, a.APIGroup, a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.Verb, resource, a.APIGroup)
}
