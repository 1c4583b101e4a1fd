// Package impersonation lets a user act as another, as kube-apiserver's
// impersonation filter (`kubectl --as`, `--as-group`, `--as-uid`): the
// Impersonate-User, Impersonate-Group, Impersonate-Uid and
// Impersonate-Extra-<key> headers each need the "impersonate" verb on
// users, groups, uids, userextras/<key> or serviceaccounts, and the
// request then runs as the user they name.
package impersonation

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// request is one thing asked for: an impersonate check and what it adds
// to the user.
type request struct {
	resource, subresource, namespace, name string
	group                                  string // API group of the check
}

// Requested reports whether h asks for impersonation.
func Requested(h http.Header) bool {
	if h.Get(authenticationv1.ImpersonateUserHeader) != "" || len(h[authenticationv1.ImpersonateGroupHeader]) > 0 ||
		h.Get(authenticationv1.ImpersonateUIDHeader) != "" {
		return true
	}
	for name := range h {
		if strings.HasPrefix(name, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			return true
		}
	}
	return false
}

// Impersonate returns the user the headers of r ask requestor to act as,
// after checking with z that requestor may impersonate each part; nil
// when nothing is asked. The errors are Kubernetes': 400 for groups,
// extras or a uid without a user, 403 naming the first part refused.
// It removes the headers from r, as upstream, so nothing further down
// sees them.
func Impersonate(ctx context.Context, r *http.Request, requestor *authn.User, z authz.Authorizer) (*authn.User, error) {
	h := r.Header
	if !Requested(h) {
		return nil, nil
	}
	wantUser := h.Get(authenticationv1.ImpersonateUserHeader)
	wantGroups := h[authenticationv1.ImpersonateGroupHeader]
	wantUID := h.Get(authenticationv1.ImpersonateUIDHeader)
	extras := map[string][]string{}
	for name, values := range h {
		if !strings.HasPrefix(name, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			continue
		}
		key := strings.ToLower(name[len(authenticationv1.ImpersonateUserExtraHeaderPrefix):])
		if unescaped, err := url.PathUnescape(key); err == nil {
			key = unescaped
		}
		extras[key] = append(extras[key], values...)
	}
	if wantUser == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("requested groups %q, extras or uid %q without impersonating a user", wantGroups, wantUID))
	}

	u := &authn.User{Name: wantUser, UID: wantUID}
	var checks []request
	if ns, name, ok := authn.SplitServiceAccountUsername(wantUser); ok {
		checks = append(checks, request{resource: "serviceaccounts", namespace: ns, name: name})
		if len(wantGroups) == 0 {
			u.Groups = authn.ServiceAccountGroups(ns)
		}
	} else {
		checks = append(checks, request{resource: "users", name: wantUser})
	}
	for _, g := range wantGroups {
		checks = append(checks, request{resource: "groups", name: g})
		u.Groups = append(u.Groups, g)
	}
	for key, values := range extras {
		for _, v := range values {
			checks = append(checks, request{group: authenticationv1.GroupName, resource: "userextras", subresource: key, name: v})
		}
	}
	if len(extras) > 0 {
		u.Extra = extras
	}
	if wantUID != "" {
		checks = append(checks, request{group: authenticationv1.GroupName, resource: "uids", name: wantUID})
	}
	for _, c := range checks {
		a := authz.Attributes{
			User: requestor, Verb: "impersonate", ResourceRequest: true, APIGroup: c.group,
			Namespace: c.namespace, Resource: c.resource, Subresource: c.subresource, Name: c.name,
		}
		d, reason, err := z.Authorize(ctx, a)
		if d != authz.DecisionAllow {
			if err != nil && reason == "" {
				reason = err.Error()
			}
			return nil, authz.Forbidden(a, reason)
		}
	}

	// Everyone but the anonymous user is authenticated; the anonymous
	// user is not.
	marker := authn.AllAuthenticated
	if u.Name == authn.Anonymous {
		marker = authn.AllUnauthenticated
	}
	if !u.InGroup(authn.AllAuthenticated) && !u.InGroup(authn.AllUnauthenticated) {
		u.Groups = append(u.Groups, marker)
	}

	h.Del(authenticationv1.ImpersonateUserHeader)
	h.Del(authenticationv1.ImpersonateGroupHeader)
	h.Del(authenticationv1.ImpersonateUIDHeader)
	for name := range h {
		if strings.HasPrefix(name, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			h.Del(name)
		}
	}
	return u, nil
}
