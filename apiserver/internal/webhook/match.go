package webhook

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/generic"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
)

// selectors are what namespace and object matching read of a webhook or
// a policy's match resources.
type selectors interface {
	GetParsedNamespaceSelector() (labels.Selector, error)
	GetParsedObjectSelector() (labels.Selector, error)
}

// matchNamespace reports whether the request's namespace is selected, as
// upstream's namespace predicate: requests for cluster-scoped kinds
// always are, a namespace being written is judged by its own new labels,
// other requests by their namespace's labels.
func matchNamespace(ctx context.Context, ns Namespaces, sel selectors, attr admission.Attributes) (bool, *apierrors.StatusError) {
	name := attr.GetNamespace()
	isNamespace := attr.GetResource().Resource == "namespaces" && attr.GetResource().Group == ""
	if name == "" && !isNamespace {
		return true, nil
	}
	selector, err := sel.GetParsedNamespaceSelector()
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	if selector.Empty() {
		return true, nil
	}
	namespaceLabels, statusErr := namespaceLabels(ctx, ns, attr)
	if statusErr != nil {
		return false, statusErr
	}
	return selector.Matches(labels.Set(namespaceLabels)), nil
}

func namespaceLabels(ctx context.Context, ns Namespaces, attr admission.Attributes) (map[string]string, *apierrors.StatusError) {
	// A namespace being created or updated is not in the cache yet (or
	// not as it is about to be): its labels are the new object's. A
	// deleted one is read as stored.
	if attr.GetResource().Resource == "namespaces" && attr.GetSubresource() == "" &&
		(attr.GetOperation() == admission.Create || attr.GetOperation() == admission.Update) {
		m, err := meta.Accessor(attr.GetObject())
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		return m.GetLabels(), nil
	}
	name := attr.GetNamespace()
	if name == "" {
		name = attr.GetName() // a namespace itself, or its subresource
	}
	if ns == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("no namespace lister"))
	}
	n, err := ns.Namespace(ctx, name)
	if err != nil {
		if status, ok := err.(apierrors.APIStatus); ok {
			return nil, &apierrors.StatusError{ErrStatus: status.Status()}
		}
		return nil, apierrors.NewInternalError(err)
	}
	return n.Labels, nil
}

// matchObject reports whether the new or the old object carries labels
// the object selector selects, as upstream's object predicate.
func matchObject(sel selectors, attr admission.Attributes) (bool, *apierrors.StatusError) {
	selector, err := sel.GetParsedObjectSelector()
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	if selector.Empty() {
		return true, nil
	}
	return objectSelected(attr.GetObject(), selector) || objectSelected(attr.GetOldObject(), selector), nil
}

func objectSelected(obj runtime.Object, selector labels.Selector) bool {
	if obj == nil {
		return false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	return selector.Matches(labels.Set(m.GetLabels()))
}

// resourceOverride is attr seen as a request for another resource (an
// equivalent one, for matchPolicy Equivalent).
type resourceOverride struct {
	admission.Attributes
	resource schema.GroupVersionResource
}

func (a resourceOverride) GetResource() schema.GroupVersionResource { return a.resource }

// matchRules finds the rule of h that selects the request: directly, or
// with matchPolicy Equivalent through the same resource served at
// another group or version. The invocation says which resource and kind
// the webhook registered for, which is what it is sent. nil: no rule.
func matchRules(h webhook.WebhookAccessor, attr admission.Attributes, o admission.ObjectInterfaces) (*generic.WebhookInvocation, *apierrors.StatusError) {
	for _, r := range h.GetRules() {
		if (&rules.Matcher{Rule: r, Attr: attr}).Matches() {
			return &generic.WebhookInvocation{Webhook: h, Resource: attr.GetResource(), Subresource: attr.GetSubresource(), Kind: attr.GetKind()}, nil
		}
	}
	if p := h.GetMatchPolicy(); p == nil || *p != admissionregistrationv1.Equivalent || o == nil {
		return nil, nil
	}
	mapper := o.GetEquivalentResourceMapper()
	equivalents := mapper.EquivalentResourcesFor(attr.GetResource(), attr.GetSubresource())
	// Earlier rules first, as upstream.
	for _, r := range h.GetRules() {
		for _, eq := range equivalents {
			if eq == attr.GetResource() {
				continue
			}
			if !(&rules.Matcher{Rule: r, Attr: resourceOverride{attr, eq}}).Matches() {
				continue
			}
			kind := mapper.KindFor(eq, attr.GetSubresource())
			if kind.Empty() {
				return nil, apierrors.NewInternalError(fmt.Errorf("unable to convert to %v: unknown kind", eq))
			}
			return &generic.WebhookInvocation{Webhook: h, Resource: eq, Subresource: attr.GetSubresource(), Kind: kind}, nil
		}
	}
	return nil, nil
}

// shouldCall decides whether h is called for attr, as upstream's
// ShouldCallHook: the selectors, then the rules, then the match
// conditions. A selector's error counts only when the rules match, so a
// webhook for other resources never fails a request. versioned converts
// the request to the kind the webhook registered for.
func (d *Dispatcher) shouldCall(ctx context.Context, h webhook.WebhookAccessor, attr admission.Attributes,
	versioned func(schema.GroupVersionKind) (*admission.VersionedAttributes, error)) (*generic.WebhookInvocation, error) {
	nsMatch, nsErr := matchNamespace(ctx, d.namespaces, h, attr)
	if !nsMatch && nsErr == nil {
		return nil, nil
	}
	objMatch, objErr := matchObject(h, attr)
	if !objMatch && objErr == nil {
		return nil, nil
	}
	invocation, err := matchRules(h, attr, d.interfaces)
	if err != nil {
		return nil, err
	}
	if invocation == nil {
		return nil, nil
	}
	if nsErr != nil {
		return nil, nsErr
	}
	if objErr != nil {
		return nil, objErr
	}
	if len(h.GetMatchConditions()) == 0 {
		return invocation, nil
	}
	va, verr := versioned(invocation.Kind)
	if verr != nil {
		return nil, apierrors.NewInternalError(verr)
	}
	result := h.GetCompiledMatcher(d.conditions).Match(ctx, va, nil, d.authz)
	if result.Error != nil {
		d.log.Warn("match conditions failed, failing closed", zap.String("webhook", h.GetName()), zap.Error(result.Error))
		return nil, apierrors.NewForbidden(attr.GetResource().GroupResource(), attr.GetName(), result.Error)
	}
	if !result.Matches {
		return nil, nil
	}
	return invocation, nil
}
