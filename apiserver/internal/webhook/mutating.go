package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/generic"
	webhookutil "k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/utils/ptr"
	sigsjson "sigs.k8s.io/json"
)

// Audit annotation prefixes of mutating webhooks, as upstream's.
const (
	mutationAnnotationPrefix           = "mutation.webhook.admission.k8s.io/"
	mutationFailedOpenAnnotationPrefix = "failed-open." + mutationAnnotationPrefix
)

// MutatingPlugins says which of the mutating plugins run.
type MutatingPlugins struct {
	// Policies are MutatingAdmissionPolicies, Webhooks mutating
	// admission webhooks.
	Policies, Webhooks bool
}

// Mutate runs the mutating phase of admission on attr as kube-apiserver's
// admission chain runs its mutating plugins, in their order: the
// MutatingAdmissionPolicies, then the mutating webhooks, each changing
// the request's object in place. When one of them changed the object
// after a policy or webhook with reinvocationPolicy IfNeeded ran, the
// phase runs a second time, and only those run again. A denial, or a
// failure under failurePolicy Fail, is the returned error.
func (d *Dispatcher) Mutate(ctx context.Context, attr *Attributes, plugins MutatingPlugins) error {
	rc := attr.GetReinvocationContext()
	for {
		if plugins.Policies {
			if err := d.MutatePolicies(ctx, attr); err != nil {
				return err
			}
		}
		if plugins.Webhooks {
			if err := d.MutateWebhooks(ctx, attr); err != nil {
				return err
			}
		}
		if rc.IsReinvoke() || !rc.ShouldReinvoke() {
			return nil
		}
		rc.SetIsReinvoke()
	}
}

// MutateWebhooks is one pass of the mutating webhooks that select the
// request: they are called one after another in their configured order,
// and their patches change the request's object in place; the kind's
// defaults are applied to what a webhook changed. In the second pass of
// Mutate only the webhooks to be reinvoked are called.
func (d *Dispatcher) MutateWebhooks(ctx context.Context, attr *Attributes) error {
	if exempt(attr) {
		return nil
	}
	hooks := d.hooks.mutating(d.source.MutatingWebhookConfigurations())
	if len(hooks) == 0 {
		return nil
	}
	rc := attr.GetReinvocationContext()
	state := reinvocationOf[string](rc, mutatingWebhookPlugin)
	state.begin(rc, attr.GetObject())
	defer func() { state.end(attr.GetObject()) }()
	m := &mutation{d: d, attr: attr, rc: rc, state: state}
	if err := m.pass(ctx, hooks); err != nil {
		return err
	}
	if m.versioned != nil && m.versioned.Dirty && m.versioned.VersionedObject.Object() != nil {
		return d.writeBack(attr, m.versioned)
	}
	return nil
}

// writeBack makes the request's object what the mutations made of its
// versioned copy, converting it if they saw another version.
func (d *Dispatcher) writeBack(attr *Attributes, va *admission.VersionedAttributes) error {
	if va.VersionedKind != attr.GetKind() {
		if err := d.interfaces.GetObjectConvertor().Convert(va.VersionedObject.Object(), attr.GetObject(), nil); err != nil {
			return apierrors.NewInternalError(err)
		}
		return nil
	}
	copyInto(attr.GetObject(), va.VersionedObject.Object())
	return nil
}

// mutation is one pass of a request through the mutating webhooks.
type mutation struct {
	d     *Dispatcher
	attr  *Attributes
	rc    admission.ReinvocationContext
	state *reinvocation[string]
	// versioned is the object as the webhooks see it, converted to the
	// kind of the last webhook called; nil until one is called.
	versioned *admission.VersionedAttributes
}

// versionedAs returns the request's objects as gvk, converting what the
// webhooks changed so far.
func (m *mutation) versionedAs(gvk schema.GroupVersionKind) (*admission.VersionedAttributes, error) {
	if m.versioned == nil {
		va, err := admission.NewVersionedAttributes(m.attr, gvk, m.d.interfaces)
		if err != nil {
			return nil, err
		}
		m.versioned = va
		return va, nil
	}
	if err := admission.ConvertVersionedAttributes(m.versioned, gvk, m.d.interfaces); err != nil {
		return nil, err
	}
	return m.versioned, nil
}

// pass calls every selected webhook, or in the second pass those to be
// reinvoked.
func (m *mutation) pass(ctx context.Context, hooks []webhook.WebhookAccessor) error {
	round := 0
	if m.rc.IsReinvoke() {
		round = 1
	}
	for i, h := range hooks {
		// A webhook is matched against the object as it now is.
		var check admission.Attributes = m.attr
		if m.versioned != nil {
			check = m.versioned
		}
		invocation, err := m.d.shouldCall(ctx, h, check, m.versionedAs)
		if err != nil {
			return err
		}
		if invocation == nil {
			continue
		}
		hook, _ := h.GetMutatingWebhook()
		// A webhook skipped in the first pass is not called in the
		// second, even if the object now matches it.
		if m.state.skip(m.rc, h.GetUID()) {
			continue
		}
		va, err := m.versionedAs(invocation.Kind)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		changed, err := m.callAndPatch(ctx, invocation, va)
		m.annotate(round, i, invocation.Webhook.GetConfigurationName(), hook.Name, changed)
		if changed {
			// The IfNeeded webhooks called before this change must see
			// it; policies notice it themselves in the second pass.
			m.state.changed()
			m.rc.SetShouldReinvoke()
		}
		m.state.ran(h.GetUID(), ptr.Deref(hook.ReinvocationPolicy, admissionregistrationv1.NeverReinvocationPolicy) == admissionregistrationv1.IfNeededReinvocationPolicy)
		if err == nil {
			continue
		}
		policy := ptr.Deref(hook.FailurePolicy, admissionregistrationv1.Fail)
		if err := m.d.failed(ctx, policy, hook.Name, err); err != nil {
			return err
		}
		_ = m.attr.AddAnnotation(fmt.Sprintf("%sround_%d_index_%d", mutationFailedOpenAnnotationPrefix, round, i), hook.Name)
	}
	return nil
}

// annotate records for the audit log whether a webhook changed the
// object, as upstream's mutation annotation.
func (m *mutation) annotate(round, index int, configuration, webhook string, mutated bool) {
	value, err := json.Marshal(struct {
		Configuration string `json:"configuration"`
		Webhook       string `json:"webhook"`
		Mutated       bool   `json:"mutated"`
	}{configuration, webhook, mutated})
	if err != nil {
		return
	}
	_ = m.attr.AddAnnotation(fmt.Sprintf("%sround_%d_index_%d", mutationAnnotationPrefix, round, index), string(value))
}

// callAndPatch calls one webhook and applies its patch to the versioned
// object; changed says whether the object is now different.
func (m *mutation) callAndPatch(ctx context.Context, invocation *generic.WebhookInvocation, va *admission.VersionedAttributes) (bool, error) {
	name := invocation.Webhook.GetName()
	result, err := m.d.call(ctx, invocation, va, true)
	if err != nil {
		return false, err
	}
	if len(result.Patch) == 0 {
		return false, nil
	}
	patch, err := jsonpatch.DecodePatch(result.Patch)
	if err != nil {
		return false, &webhookutil.ErrCallingWebhook{WebhookName: name, Reason: fmt.Errorf("received undecodable patch in webhook response: %w", err), Status: apierrors.NewServiceUnavailable("error decoding patch in webhook response")}
	}
	if len(patch) == 0 {
		return false, nil
	}
	current := va.VersionedObject.Object()
	if current == nil {
		return false, apierrors.NewInternalError(fmt.Errorf("admission webhook %q attempted to modify the object, which is not supported for this operation", name))
	}
	if result.PatchType != admissionv1.PatchTypeJSONPatch {
		return false, &webhookutil.ErrCallingWebhook{WebhookName: name, Reason: fmt.Errorf("unsupported patch type %q", result.PatchType), Status: apierrors.NewServiceUnavailable("unsupported patch type")}
	}
	original, err := json.Marshal(current)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	patched, err := patch.Apply(original)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	next, err := decodeLike(current, patched)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	changed := !apiequality.Semantic.DeepEqual(current, next)
	va.UpdateObject(next)
	if va.VersionedKind == m.attr.GetKind() {
		m.attr.defaultObject(next)
	}
	return changed, nil
}

// decodeLike decodes data into a new object of obj's type, keeping its
// apiVersion and kind; fields are matched case-sensitively, as the
// apiserver decodes requests.
func decodeLike(obj runtime.Object, data []byte) (runtime.Object, error) {
	if _, ok := obj.(*unstructured.Unstructured); ok {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, err
		}
		return u, nil
	}
	out := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, out); err != nil {
		return nil, err
	}
	if out.GetObjectKind().GroupVersionKind().Empty() {
		out.GetObjectKind().SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	}
	return out, nil
}

// copyInto makes dst, of the same type as src, hold src's content.
func copyInto(dst, src runtime.Object) {
	if dst == src {
		return
	}
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src.DeepCopyObject()).Elem())
}
