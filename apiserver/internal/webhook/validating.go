package webhook

import (
	"context"
	"fmt"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/generic"
	"k8s.io/utils/ptr"
)

const validatingFailedOpenAnnotationPrefix = "failed-open.validating.webhook.admission.k8s.io/"

// Validate calls the validating webhooks that select the request, all at
// once, and returns the first denial or failure (under failurePolicy
// Fail) among their answers, as upstream does; nil when all allow it.
func (d *Dispatcher) Validate(ctx context.Context, attr *Attributes) error {
	if exempt(attr) {
		return nil
	}
	hooks := d.hooks.validating(d.source.ValidatingWebhookConfigurations())
	if len(hooks) == 0 {
		return nil
	}
	versions := map[schema.GroupVersionKind]*admission.VersionedAttributes{}
	versioned := func(gvk schema.GroupVersionKind) (*admission.VersionedAttributes, error) {
		if va, ok := versions[gvk]; ok {
			return va, nil
		}
		va, err := admission.NewVersionedAttributes(attr, gvk, d.interfaces)
		if err != nil {
			return nil, err
		}
		versions[gvk] = va
		return va, nil
	}
	var calls []*generic.WebhookInvocation
	for _, h := range hooks {
		invocation, err := d.shouldCall(ctx, h, attr, versioned)
		if err != nil {
			return err
		}
		if invocation == nil {
			continue
		}
		// Convert now: the calls below share the versions read-only.
		if _, err := versioned(invocation.Kind); err != nil {
			return apierrors.NewInternalError(err)
		}
		calls = append(calls, invocation)
	}
	if len(calls) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return apierrors.NewTimeoutError("request did not complete within requested timeout", 0)
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, invocation := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				// A panic in one call fails the request, not the server.
				if r := recover(); r != nil {
					errs[i] = apierrors.NewInternalError(fmt.Errorf("ValidatingAdmissionWebhook/%v has panicked: %v", invocation.Webhook.GetName(), r))
				}
			}()
			hook, _ := invocation.Webhook.GetValidatingWebhook()
			_, err := d.call(ctx, invocation, versions[invocation.Kind], false)
			if err == nil {
				return
			}
			policy := ptr.Deref(hook.FailurePolicy, admissionregistrationv1.Fail)
			errs[i] = d.failed(ctx, policy, hook.Name, err)
			if errs[i] == nil {
				_ = attr.AddAnnotation(fmt.Sprintf("%sround_0_index_%d", validatingFailedOpenAnnotationPrefix, i), hook.Name)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
