package core

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// eventStrategy applies the core/v1 Event rules, which Kubernetes keeps
// loose for old clients. Recorders PUT events to bump their count, so an
// update may create.
type eventStrategy struct {
	apiresource.DefaultStrategy
	// eventsAPI says the rules judge an events.k8s.io/v1 request (in its
	// core/v1 form): errors name reportingController, that API's field,
	// where a core/v1 request's name reportingComponent, as Kubernetes'
	// legacyValidateEvent picks the name by the request's version.
	eventsAPI bool
}

// EventsAPIStrategy is the core/v1 Event strategy as Kubernetes applies
// it to events.k8s.io/v1 requests, before that API's own, stricter rules:
// its errors name the events.k8s.io field reportingController.
func EventsAPIStrategy() apiresource.Strategy { return eventStrategy{eventsAPI: true} }

// Length limits of the fields of events written with eventTime (the
// events.k8s.io style).
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

func (eventStrategy) AllowCreateOnUpdate() bool { return true }

func (s eventStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateEvent(obj.(*corev1.Event), s.reportingPath())
}

func (s eventStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateEvent(obj.(*corev1.Event), s.reportingPath())
}

// reportingPath is the path errors about ReportingController name.
func (s eventStrategy) reportingPath() *field.Path {
	if s.eventsAPI {
		return field.NewPath("reportingController")
	}
	return field.NewPath("reportingComponent")
}

// validateEvent checks an event lives in its object's namespace (or in
// default, for cluster-scoped objects), and, for events with an eventTime,
// that the reporting fields are there and short enough.
func validateEvent(e *corev1.Event, reportingPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	const mismatch = "does not match event.namespace"
	if e.EventTime.IsZero() {
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
		}
	} else {
		if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
		}
		// Empty, it is both missing and no qualified name, as upstream
		// reports it.
		if e.ReportingController == "" {
			errs = append(errs, field.Required(reportingPath, ""))
		}
		errs = append(errs, validateQualifiedName(e.ReportingController, reportingPath)...)
		errs = append(errs, requiredAndShort(e.ReportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		errs = append(errs, requiredAndShort(e.Action, actionLengthLimit, field.NewPath("action"))...)
		errs = append(errs, requiredAndShort(e.Reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(e.Message) > noteLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	return append(errs, invalids(field.NewPath("namespace"), e.Namespace, validation.IsDNS1123Subdomain(e.Namespace))...)
}

func requiredAndShort(value string, limit int, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if value == "" {
		errs = append(errs, field.Required(p, ""))
	}
	if len(value) > limit {
		errs = append(errs, field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return errs
}
