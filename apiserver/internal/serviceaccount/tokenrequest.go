package serviceaccount

import (
	"context"
	"fmt"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

const (
	// MinTokenAgeSec is the shortest lifetime a TokenRequest may ask for.
	MinTokenAgeSec = 10 * 60
	// defaultExpirationSeconds is a TokenRequest's lifetime when it asks
	// for none.
	defaultExpirationSeconds = 60 * 60
)

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// TokenRequests serves the serviceaccounts/token create subresource, as
// kube-apiserver's TokenREST: a TokenRequest in, the same request with
// status.token and status.expirationTimestamp out.
type TokenRequests struct {
	Issuer *Issuer
	// Objects reads the ServiceAccount and the object named in
	// spec.boundObjectRef.
	Objects Getter
	// APIAudiences are the audiences of a request that names none (the
	// --api-audiences, which default to the issuers).
	APIAudiences []string
	// MaxExpiration caps the lifetime a request may ask for
	// (--service-account-max-token-expiration); 0 means no cap.
	MaxExpiration time.Duration
	// ExtendExpiration gives the tokens the kubelet asks for in the
	// volumes ServiceAccount admission adds (exactly
	// WarnOnlyBoundTokenExpirationSeconds, bound to a pod, for the API
	// audiences) MaxExtendedExpiration instead, with a "warnafter" claim at
	// the lifetime asked for (--service-account-extend-token-expiration,
	// true by default upstream).
	ExtendExpiration bool
	// MaxExtendedExpiration is the lifetime of such tokens; 0 means
	// ExpirationExtensionSeconds, a year.
	MaxExtendedExpiration time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Issued is what a TokenRequest produced.
type Issued struct {
	// TokenRequest is the answer: the request with its defaults and
	// status.
	TokenRequest *authenticationv1.TokenRequest
	// Warnings are for the response's Warning headers (a shortened
	// lifetime).
	Warnings []string
	// CredentialID names the token in audit events, under
	// IssuedCredentialIDAuditAnnotationKey.
	CredentialID string
}

// Create mints a token for the ServiceAccount namespace/name as req asks.
// Its errors are Kubernetes' API errors for the client: NotFound for a
// missing account or bound object, Conflict for a UID that does not match,
// Invalid for a bad spec, BadRequest for an object tokens cannot be bound
// to.
func (r *TokenRequests) Create(ctx context.Context, namespace, name string, req *authenticationv1.TokenRequest) (*Issued, error) {
	if namespace == "" {
		return nil, apierrors.NewBadRequest("namespace is required")
	}
	req = req.DeepCopy()
	if req.Name != "" && req.Name != name {
		errs := field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")}
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, errs)
	}
	if req.Namespace != "" && req.Namespace != namespace {
		errs := field.ErrorList{field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")}
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, errs)
	}
	sa, err := r.Objects.GetServiceAccount(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if req.UID != "" && req.UID != sa.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: tokenRequestGVK.Group, Resource: tokenRequestGVK.Kind}, name,
			fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = append([]string(nil), r.APIAudiences...)
	}
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = ptr.To[int64](defaultExpirationSeconds)
	}
	req.Name, req.Namespace, req.UID = sa.Name, sa.Namespace, sa.UID
	// The time is taken before the token is made, so that the expiration
	// the status reports is never after the token's own.
	now := r.now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authenticationv1.TokenRequestStatus{}
	if errs := validateTokenRequest(req); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), "", errs)
	}

	tok := Token{ServiceAccount: sa, Audiences: req.Spec.Audiences, IssuedAt: now}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if err := r.bind(ctx, &tok, namespace, name, ref); err != nil {
			return nil, err
		}
	}

	var warnings []string
	exp := *req.Spec.ExpirationSeconds
	if maxExp := int64(r.MaxExpiration.Seconds()); maxExp > 0 && exp > maxExp {
		warnings = append(warnings, fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", exp, maxExp))
		exp = maxExp
		req.Spec.ExpirationSeconds = &exp
	}
	// The kubelet's projected tokens of pods made before bound tokens
	// existed live a year, warning (not failing) after the hour asked for.
	tok.Expiration = time.Duration(exp) * time.Second
	if r.ExtendExpiration && tok.Pod != nil && exp == WarnOnlyBoundTokenExpirationSeconds && r.allAPIAudiences(req.Spec.Audiences) {
		tok.WarnAfter = tok.Expiration
		tok.Expiration = r.maxExtendedExpiration()
	}
	token, jti, err := r.Issuer.Mint(tok)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	req.TypeMeta = metav1.TypeMeta{APIVersion: tokenRequestGVK.GroupVersion().String(), Kind: tokenRequestGVK.Kind}
	req.Status = authenticationv1.TokenRequestStatus{
		Token:               token,
		ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(exp) * time.Second)),
	}
	return &Issued{TokenRequest: req, Warnings: warnings, CredentialID: CredentialID(jti)}, nil
}

// bind reads the object ref names into tok.
func (r *TokenRequests) bind(ctx context.Context, tok *Token, namespace, saName string, ref *authenticationv1.BoundObjectReference) error {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid types.UID
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		if ref.Name == "" {
			return nameRequired()
		}
		pod, err := r.Objects.GetPod(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		if pod.Spec.ServiceAccountName != saName {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		tok.Pod, uid = pod, pod.UID
		// A pod-bound token also names the pod's node; a node that is gone
		// is still named.
		if pod.Spec.NodeName != "" {
			node, err := r.Objects.GetNode(ctx, pod.Spec.NodeName)
			switch {
			case apierrors.IsNotFound(err):
				node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
			case err != nil:
				return apierrors.NewInternalError(err)
			}
			tok.Node = node
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		if ref.Name == "" {
			return nameRequired()
		}
		node, err := r.Objects.GetNode(ctx, ref.Name)
		if err != nil {
			return err
		}
		tok.Node, uid = node, node.UID
	case gvk.Group == "" && gvk.Kind == "Secret":
		if ref.Name == "" {
			return nameRequired()
		}
		secret, err := r.Objects.GetSecret(ctx, namespace, ref.Name)
		if err != nil {
			return err
		}
		tok.Secret, uid = secret, secret.UID
	case isWebhookRef(ref):
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s (feature gate %s is disabled)", gvk.String(), "APIServerWebhookAuthenticationToken"))
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && uid != ref.UID {
		return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return nil
}

// nameRequired is the error of a get without a name, as the generic
// registry's.
func nameRequired() error { return apierrors.NewBadRequest("Name parameter required.") }

// validateTokenRequest is Kubernetes' static TokenRequest validation.
func validateTokenRequest(req *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	exp := *req.Spec.ExpirationSeconds
	if exp < MinTokenAgeSec {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
	}
	if exp > 1<<32 {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
	}
	if !isWebhookRef(req.Spec.BoundObjectRef) && len(req.Spec.Attestations) != 0 {
		return field.ErrorList{field.Invalid(spec.Child("attestations"), req.Spec.Attestations, "attestations may only be specified with a webhook bound object reference")}
	}
	return errs
}

// isWebhookRef reports whether ref names an admission webhook
// configuration, which tokens are bound to only behind an alpha feature
// gate upstream.
func isWebhookRef(ref *authenticationv1.BoundObjectReference) bool {
	if ref == nil || ref.APIVersion != admissionregistrationv1.SchemeGroupVersion.String() {
		return false
	}
	return ref.Kind == "ValidatingWebhookConfiguration" || ref.Kind == "MutatingWebhookConfiguration"
}

// allAPIAudiences reports whether every audience is an API audience.
func (r *TokenRequests) allAPIAudiences(auds []string) bool {
	for _, a := range auds {
		if !slices.Contains(r.APIAudiences, a) {
			return false
		}
	}
	return true
}

func (r *TokenRequests) maxExtendedExpiration() time.Duration {
	if r.MaxExtendedExpiration > 0 {
		return r.MaxExtendedExpiration
	}
	return ExpirationExtensionSeconds * time.Second
}

func (r *TokenRequests) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}
