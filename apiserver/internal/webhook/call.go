package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/admission"
	webhookerrors "k8s.io/apiserver/pkg/admission/plugin/webhook/errors"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/generic"
	webhookrequest "k8s.io/apiserver/pkg/admission/plugin/webhook/request"
	webhookutil "k8s.io/apiserver/pkg/util/webhook"
)

// call sends one webhook the request as an AdmissionReview and returns
// its checked answer. The errors are upstream's: *ErrCallingWebhook when
// the webhook could not be asked or answered nonsense (failurePolicy
// decides), a StatusError when the request may not go to this webhook at
// all (dry run to a webhook with side effects).
func (d *Dispatcher) call(ctx context.Context, invocation *generic.WebhookInvocation, attr *admission.VersionedAttributes, mutating bool) (*webhookrequest.AdmissionResponse, error) {
	h := invocation.Webhook
	name := h.GetName()
	if attr.Attributes.IsDryRun() {
		se := h.GetSideEffects()
		if se == nil {
			return nil, &webhookutil.ErrCallingWebhook{WebhookName: name, Reason: errors.New("Webhook SideEffects is nil"), Status: apierrors.NewBadRequest("Webhook SideEffects is nil")}
		}
		if *se != admissionregistrationv1.SideEffectClassNone && *se != admissionregistrationv1.SideEffectClassNoneOnDryRun {
			return nil, webhookerrors.NewDryRunUnsupportedErr(name)
		}
	}
	uid, request, response, err := webhookrequest.CreateAdmissionObjects(attr, invocation)
	if err != nil {
		return nil, &webhookutil.ErrCallingWebhook{WebhookName: name, Reason: fmt.Errorf("could not create admission objects: %w", err), Status: apierrors.NewBadRequest("error creating admission objects")}
	}
	client, err := h.GetRESTClient(d.clients)
	if err != nil {
		return nil, &webhookutil.ErrCallingWebhook{WebhookName: name, Reason: fmt.Errorf("could not get REST client: %w", err), Status: apierrors.NewInternalError(err)}
	}
	if t := h.GetTimeoutSeconds(); t != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*t)*time.Second)
		defer cancel()
	}
	r := client.Post().Body(request)
	// Tell the webhook how long it has, in whole seconds rounded up.
	if deadline, ok := ctx.Deadline(); ok {
		if timeout := time.Until(deadline); timeout > 0 {
			if truncated := timeout.Truncate(time.Second); truncated != timeout {
				timeout = truncated + time.Second
			}
			r.Timeout(timeout)
		}
	}
	if err := r.Do(ctx).Into(response); err != nil {
		var status *apierrors.StatusError
		if !errors.As(err, &status) {
			status = apierrors.NewServiceUnavailable("error calling webhook")
		}
		return nil, &webhookutil.ErrCallingWebhook{WebhookName: name, Reason: fmt.Errorf("failed to call webhook: %w", err), Status: status}
	}
	result, err := webhookrequest.VerifyAdmissionResponse(uid, mutating, response)
	if err != nil {
		return nil, &webhookutil.ErrCallingWebhook{WebhookName: name, Reason: fmt.Errorf("received invalid webhook response: %w", err), Status: apierrors.NewServiceUnavailable("error validating webhook response")}
	}
	for k, v := range result.AuditAnnotations {
		if err := attr.Attributes.AddAnnotation(name+"/"+k, v); err != nil {
			d.log.Warn("webhook audit annotation refused", zap.String("webhook", name), zap.String("key", k), zap.Error(err))
		}
	}
	if a, ok := attr.Attributes.(*Attributes); ok {
		for _, w := range result.Warnings {
			a.AddWarning(w)
		}
	}
	if !result.Allowed {
		return nil, &webhookutil.ErrWebhookRejection{Status: webhookerrors.ToStatusErr(name, result.Result)}
	}
	return result, nil
}

// failed turns a webhook's failure into the request's error, or nil when
// failurePolicy Ignore lets the request go on without it. A parent
// context that ran out is the request's timeout whatever the policy.
func (d *Dispatcher) failed(ctx context.Context, h admissionregistrationv1.FailurePolicyType, name string, err error) error {
	var callErr *webhookutil.ErrCallingWebhook
	if errors.As(err, &callErr) {
		if h == admissionregistrationv1.Ignore {
			d.log.Warn("failed calling webhook, failing open", zap.String("webhook", name), zap.Error(callErr))
			if ctx.Err() != nil {
				return apierrors.NewTimeoutError("request did not complete within requested timeout", 0)
			}
			return nil
		}
		d.log.Warn("failed calling webhook, failing closed", zap.String("webhook", name), zap.Error(callErr))
		return apierrors.NewInternalError(err)
	}
	var rejection *webhookutil.ErrWebhookRejection
	if errors.As(err, &rejection) {
		return rejection.Status
	}
	return err
}
