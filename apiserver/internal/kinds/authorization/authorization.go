// Package authorization defines authorization.k8s.io/v1's review kinds,
// computed by the apiserver's authorizer and never stored:
// SubjectAccessReview (may this user do that: the kubelet's and the
// approver's question), LocalSubjectAccessReview (the same in one
// namespace), SelfSubjectAccessReview (may I: `kubectl auth can-i`) and
// SelfSubjectRulesReview (what may I do here: `kubectl auth can-i
// --list`).
package authorization

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
)

// All returns the authorization.k8s.io/v1 kinds, answered by z and, for
// rules reviews, rules.
func All(z authz.Authorizer, rules authz.RuleResolver) []*apiresource.Descriptor {
	return []*apiresource.Descriptor{
		SubjectAccessReviews(z), LocalSubjectAccessReviews(z), SelfSubjectAccessReviews(z), SelfSubjectRulesReviews(rules),
	}
}

func virtual(resource string, namespaced bool, obj runtime.Object, create func(ctx context.Context, namespace string, obj runtime.Object) (runtime.Object, error)) *apiresource.Descriptor {
	d := apiresource.NewDescriptor(authorizationv1.SchemeGroupVersion, resource, obj, obj)
	d.NewList = nil
	d.Namespaced = namespaced
	d.Strategy = apiresource.DefaultStrategy{}
	d.Create = create
	return d
}

// SubjectAccessReviews asks z about any user.
func SubjectAccessReviews(z authz.Authorizer) *apiresource.Descriptor {
	return virtual("subjectaccessreviews", false, &authorizationv1.SubjectAccessReview{}, func(ctx context.Context, _ string, obj runtime.Object) (runtime.Object, error) {
		sar := obj.(*authorizationv1.SubjectAccessReview)
		errs := validateSpec(sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes, field.NewPath("spec"))
		if sar.Spec.User == "" && len(sar.Spec.Groups) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "user"), sar.Spec.User, "at least one of user or group must be specified"))
		}
		if !emptyMeta(sar.ObjectMeta, false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata"), sar.ObjectMeta, "must be empty"))
		}
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SubjectAccessReview").GroupKind(), "", errs)
		}
		sar.Status = review(ctx, z, specUser(sar.Spec), sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes)
		return sar, nil
	})
}

// LocalSubjectAccessReviews asks z about any user, in the request's
// namespace only.
func LocalSubjectAccessReviews(z authz.Authorizer) *apiresource.Descriptor {
	return virtual("localsubjectaccessreviews", true, &authorizationv1.LocalSubjectAccessReview{}, func(ctx context.Context, ns string, obj runtime.Object) (runtime.Object, error) {
		sar := obj.(*authorizationv1.LocalSubjectAccessReview)
		if sar.Namespace == "" {
			sar.Namespace = ns
		}
		errs := validateSpec(sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes, field.NewPath("spec"))
		if sar.Spec.User == "" && len(sar.Spec.Groups) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "user"), sar.Spec.User, "at least one of user or group must be specified"))
		}
		if !emptyMeta(sar.ObjectMeta, true) {
			errs = append(errs, field.Invalid(field.NewPath("metadata"), sar.ObjectMeta, "must be empty except for namespace"))
		}
		if ra := sar.Spec.ResourceAttributes; ra != nil && ra.Namespace != sar.Namespace {
			errs = append(errs, field.Invalid(field.NewPath("spec", "resourceAttributes", "namespace"), ra.Namespace, "must match metadata.namespace"))
		}
		if sar.Spec.NonResourceAttributes != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), sar.Spec.NonResourceAttributes, "disallowed on this kind of request"))
		}
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("LocalSubjectAccessReview").GroupKind(), "", errs)
		}
		if sar.Namespace != ns {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("spec.resourceAttributes.namespace must match namespace: %v", ns))
		}
		sar.Status = review(ctx, z, specUser(sar.Spec), sar.Spec.ResourceAttributes, nil)
		return sar, nil
	})
}

// SelfSubjectAccessReviews asks z about the caller.
func SelfSubjectAccessReviews(z authz.Authorizer) *apiresource.Descriptor {
	return virtual("selfsubjectaccessreviews", false, &authorizationv1.SelfSubjectAccessReview{}, func(ctx context.Context, _ string, obj runtime.Object) (runtime.Object, error) {
		sar := obj.(*authorizationv1.SelfSubjectAccessReview)
		errs := validateSpec(sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes, field.NewPath("spec"))
		if !emptyMeta(sar.ObjectMeta, false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata"), sar.ObjectMeta, "must be empty"))
		}
		if len(errs) > 0 {
			return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview").GroupKind(), "", errs)
		}
		u, ok := authn.UserFrom(ctx)
		if !ok {
			return nil, apierrors.NewBadRequest("no user present on request")
		}
		sar.Status = review(ctx, z, u, sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes)
		return sar, nil
	})
}

// SelfSubjectRulesReviews lists what the caller may do in spec.namespace.
func SelfSubjectRulesReviews(rules authz.RuleResolver) *apiresource.Descriptor {
	return virtual("selfsubjectrulesreviews", false, &authorizationv1.SelfSubjectRulesReview{}, func(ctx context.Context, _ string, obj runtime.Object) (runtime.Object, error) {
		in := obj.(*authorizationv1.SelfSubjectRulesReview)
		u, ok := authn.UserFrom(ctx)
		if !ok {
			return nil, apierrors.NewBadRequest("no user present on request")
		}
		if in.Spec.Namespace == "" {
			return nil, apierrors.NewBadRequest("no namespace on request")
		}
		res, nonRes, incomplete, err := rules.RulesFor(ctx, u, in.Spec.Namespace)
		out := &authorizationv1.SelfSubjectRulesReview{Spec: in.Spec, Status: authorizationv1.SubjectRulesReviewStatus{
			ResourceRules: res, NonResourceRules: nonRes, Incomplete: incomplete,
		}}
		if out.Status.ResourceRules == nil {
			out.Status.ResourceRules = []authorizationv1.ResourceRule{}
		}
		if out.Status.NonResourceRules == nil {
			out.Status.NonResourceRules = []authorizationv1.NonResourceRule{}
		}
		if err != nil {
			out.Status.EvaluationError = err.Error()
		}
		return out, nil
	})
}

// validateSpec: exactly one of the attributes, as Kubernetes'
// ValidateSubjectAccessReviewSpec.
func validateSpec(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes, fld *field.Path) field.ErrorList {
	if (ra == nil) == (nra == nil) {
		return field.ErrorList{field.Invalid(fld, nra, "exactly one of nonResourceAttributes or resourceAttributes must be specified")}
	}
	return nil
}

// emptyMeta: a review carries no metadata but, for a local one, its
// namespace (and, as Kubernetes tolerates, managed fields).
func emptyMeta(m metav1.ObjectMeta, allowNamespace bool) bool {
	m.ManagedFields = nil
	if allowNamespace {
		m.Namespace = ""
	}
	return m.Name == "" && m.GenerateName == "" && m.Namespace == "" && m.UID == "" && m.ResourceVersion == "" &&
		len(m.Labels) == 0 && len(m.Annotations) == 0 && len(m.OwnerReferences) == 0 && len(m.Finalizers) == 0 &&
		m.CreationTimestamp.IsZero() && m.DeletionTimestamp == nil
}

func specUser(spec authorizationv1.SubjectAccessReviewSpec) *authn.User {
	u := &authn.User{Name: spec.User, UID: spec.UID, Groups: append([]string(nil), spec.Groups...)}
	if len(spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = append([]string(nil), v...)
		}
	}
	return u
}

// review asks z, as Kubernetes' SubjectAccessReview storage: an empty
// version matches all.
func review(ctx context.Context, z authz.Authorizer, u *authn.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	a := authz.Attributes{User: u}
	if ra != nil {
		a.ResourceRequest = true
		a.Verb, a.Namespace, a.APIGroup, a.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Name = ra.Resource, ra.Subresource, ra.Name
		if a.APIVersion == "" {
			a.APIVersion = "*"
		}
	} else {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	d, reason, err := z.Authorize(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == authz.DecisionAllow, Denied: d == authz.DecisionDeny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}
