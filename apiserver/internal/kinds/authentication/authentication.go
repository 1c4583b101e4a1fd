// Package authentication defines authentication.k8s.io/v1's review kinds,
// which are computed, never stored: TokenReview (may this bearer token
// log in, and as whom: what the kubelet and webhook servers ask) and
// SelfSubjectReview (who am I: `kubectl auth whoami`).
package authentication

import (
	"context"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/authn"
)

// All returns the authentication.k8s.io/v1 kinds: tokens reviewed by
// tokens, the caller's identity from the request.
func All(tokens authn.TokenAuthenticator, apiAudiences []string) []*apiresource.Descriptor {
	return []*apiresource.Descriptor{TokenReviews(tokens, apiAudiences), SelfSubjectReviews()}
}

func virtual(resource string, obj runtime.Object, create func(ctx context.Context, namespace string, obj runtime.Object) (runtime.Object, error)) *apiresource.Descriptor {
	d := apiresource.NewDescriptor(authenticationv1.SchemeGroupVersion, resource, obj, obj)
	d.NewList = nil
	d.Strategy = apiresource.DefaultStrategy{}
	d.Create = create
	return d
}

// TokenReviews answers whether spec.token authenticates, for one of
// spec.audiences (default: the API audiences), as kube-apiserver's
// tokenreview storage: a bad token is status.authenticated false with
// status.error, never an error of the request.
func TokenReviews(tokens authn.TokenAuthenticator, apiAudiences []string) *apiresource.Descriptor {
	return virtual("tokenreviews", &authenticationv1.TokenReview{}, func(ctx context.Context, ns string, obj runtime.Object) (runtime.Object, error) {
		tr := obj.(*authenticationv1.TokenReview)
		if ns != "" {
			return nil, apierrors.NewBadRequest("namespace is not allowed on this type: " + ns)
		}
		if tr.Spec.Token == "" {
			return nil, apierrors.NewBadRequest("token is required for TokenReview in authentication")
		}
		auds := tr.Spec.Audiences
		if len(auds) == 0 {
			auds = apiAudiences
		}
		if len(auds) > 0 {
			ctx = authn.WithAudiences(ctx, auds)
		}
		out := &authenticationv1.TokenReview{ObjectMeta: tr.ObjectMeta, Spec: tr.Spec}
		u, ok, err := tokens.AuthenticateToken(ctx, strings.TrimSpace(tr.Spec.Token))
		out.Status.Authenticated = ok
		if err != nil {
			out.Status.Error = err.Error()
		}
		if ok && u != nil {
			out.Status.User = UserInfo(u)
			out.Status.Audiences = u.Audiences
			if len(out.Status.Audiences) == 0 {
				out.Status.Audiences = auds
			}
		}
		return out, nil
	})
}

// SelfSubjectReviews tells the caller who the apiserver thinks it is.
func SelfSubjectReviews() *apiresource.Descriptor {
	return virtual("selfsubjectreviews", &authenticationv1.SelfSubjectReview{}, func(ctx context.Context, ns string, obj runtime.Object) (runtime.Object, error) {
		if ns != "" {
			return nil, apierrors.NewBadRequest("namespace is not allowed on this type: " + ns)
		}
		u, ok := authn.UserFrom(ctx)
		if !ok {
			return nil, apierrors.NewBadRequest("no user present on request")
		}
		in := obj.(*authenticationv1.SelfSubjectReview)
		meta := in.ObjectMeta
		meta.CreationTimestamp = metav1.Now() // as upstream's: when the review was made
		return &authenticationv1.SelfSubjectReview{ObjectMeta: meta, Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: UserInfo(u)}}, nil
	})
}

// UserInfo is u as the authentication API writes users.
func UserInfo(u *authn.User) authenticationv1.UserInfo {
	info := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: append([]string(nil), u.Groups...)}
	if len(u.Extra) > 0 {
		info.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.Extra {
			info.Extra[k] = append(authenticationv1.ExtraValue(nil), v...)
		}
	}
	return info
}
