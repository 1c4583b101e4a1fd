// Package endpoints serves the Kubernetes REST API over HTTP: it parses
// request paths into (verb, group, version, namespace, resource, name,
// subresource), negotiates JSON, YAML, protobuf and Table output, decodes bodies with
// Kubernetes' strictness rules, applies patches, streams watches, serves
// discovery, and answers every error as a metav1.Status.
package endpoints

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/fields"

	"coracle.dev/apiserver/internal/apiresource"
)

// Verbs, as Kubernetes names them.
const (
	VerbGet              = "get"
	VerbList             = "list"
	VerbWatch            = "watch"
	VerbCreate           = "create"
	VerbUpdate           = "update"
	VerbPatch            = "patch"
	VerbDelete           = "delete"
	VerbDeleteCollection = "deletecollection"
)

// RequestInfo is what a request path and method say, as Kubernetes'
// request.RequestInfo: for a resource request the verb, group, version,
// namespace, resource, name and subresource; for any other request
// (discovery, /healthz, /metrics) its path and the method in lower case
// as the verb.
type RequestInfo struct {
	// IsResourceRequest is false for non-resource paths.
	IsResourceRequest bool
	// Path is the request's URL path.
	Path        string
	Verb        string
	Group       string
	Version     string
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	// Parts beyond the subresource (unused by the served kinds).
	Extra []string
}

// namespaceSubresources are the subresources of a namespace object, which
// otherwise would read as a kind inside the namespace.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo reads the path after /api/v1 or /apis/{group}/{version}:
// rest is e.g. "namespaces/default/pods/web-1/status".
func parseRequestInfo(method, group, version, rest string, watchParam bool) (RequestInfo, bool) {
	info := RequestInfo{IsResourceRequest: true, Group: group, Version: version}
	parts := splitPath(rest)
	if len(parts) == 0 {
		return info, false
	}
	watchPrefix := false
	if parts[0] == "watch" {
		watchPrefix = true
		parts = parts[1:]
		if len(parts) == 0 {
			return info, false
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if len(parts) > 3 {
		info.Extra = parts[3:]
	}
	if info.Resource == "namespaces" {
		// /api/v1/namespaces/foo names the namespace object itself.
		info.Namespace = ""
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		// A subresource's query is its own (a proxied path's may say
		// watch): only the object and collections are watched.
		case watchPrefix || (watchParam && info.Subresource == ""):
			info.Verb = VerbWatch
		case info.Name == "":
			info.Verb = VerbList
		default:
			info.Verb = VerbGet
		}
	case http.MethodPost:
		info.Verb = VerbCreate
	case http.MethodPut:
		info.Verb = VerbUpdate
	case http.MethodPatch:
		info.Verb = VerbPatch
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = VerbDeleteCollection
		} else {
			info.Verb = VerbDelete
		}
	case http.MethodOptions:
		// Proxies pass OPTIONS on, with no verb, as Kubernetes' request
		// info has for a method it does not map.
		if info.Subresource != apiresource.Proxy {
			return info, false
		}
		info.Verb = ""
	default:
		return info, false
	}
	return info, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// NewRequestInfo reads a whole request as Kubernetes' RequestInfoFactory
// does, for the authorizer, which runs before routing: a path with a
// resource under /api/{version} or /apis/{group}/{version} is a resource
// request; anything shorter (discovery) or elsewhere is a non-resource
// request. Unlike the handlers' own reading, a request for a namespace
// object has that namespace as its namespace, as Kubernetes authorizes it.
func NewRequestInfo(r *http.Request) RequestInfo {
	nonResource := RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	var group, version string
	var rest []string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		version, rest = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, version, rest = parts[1], parts[2], parts[3:]
	default:
		return nonResource
	}
	info, ok := parseRequestInfo(r.Method, group, version, strings.Join(rest, "/"), isTrue(r.URL.Query().Get("watch")))
	if !ok {
		return nonResource
	}
	info.Path = r.URL.Path
	if info.Resource == "namespaces" && info.Name != "" {
		info.Namespace = info.Name
	}
	// A list or watch of one object by metadata.name is authorized as a
	// request for that name, as Kubernetes' RequestInfoFactory does: the
	// kubelet watches its own Node that way.
	if (info.Verb == VerbList || info.Verb == VerbWatch) && info.Name == "" {
		if sel := r.URL.Query().Get("fieldSelector"); sel != "" {
			if fs, err := fields.ParseSelector(sel); err == nil {
				if name, ok := fs.RequiresExactMatch("metadata.name"); ok {
					info.Name = name
				}
			}
		}
	}
	return info
}
