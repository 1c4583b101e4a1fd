// Package events defines the events.k8s.io/v1 Events: the same objects
// as core/v1 Events (stored in their form, under their etcd prefix),
// seen through the newer API's field names and validated with its
// stricter rules, as Kubernetes serves both from one storage.
package events

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/kinds/core"
)

// All returns the events.k8s.io kinds.
func All() []*apiresource.Descriptor { return []*apiresource.Descriptor{Events()} }

// fieldLabels maps the field selectors of events.k8s.io/v1 to the core
// Event's selectable fields, as Kubernetes' field label conversion does:
// regarding.* are involvedObject.*, reportingController is
// reportingComponent.
var fieldLabels = map[string]string{
	"reason":                    "reason",
	"type":                      "type",
	"reportingController":       "reportingComponent",
	"regarding.kind":            "involvedObject.kind",
	"regarding.namespace":       "involvedObject.namespace",
	"regarding.name":            "involvedObject.name",
	"regarding.uid":             "involvedObject.uid",
	"regarding.apiVersion":      "involvedObject.apiVersion",
	"regarding.resourceVersion": "involvedObject.resourceVersion",
	"regarding.fieldPath":       "involvedObject.fieldPath",
}

// Events (events.k8s.io/v1), stored as core/v1 Events.
func Events() *apiresource.Descriptor {
	coreEvents := core.Events()
	d := apiresource.NewDescriptor(eventsv1.SchemeGroupVersion, "events", &eventsv1.Event{}, &eventsv1.EventList{})
	d.Namespaced = true
	d.ShortNames = []string{"ev"}
	d.Strategy = eventStrategy{legacy: core.EventsAPIStrategy()}
	d.Storage = apiresource.StoredAs(corev1.SchemeGroupVersion.WithKind("Event"), ToCore, FromCore)
	d.Table = apiresource.ConvertedTable(coreEvents.Table, d.Storage.To)
	d.FieldLabels = slices.Sorted(maps.Keys(fieldLabels))
	d.Fields = func(obj runtime.Object) fields.Set {
		e, err := ToCore(obj.(*eventsv1.Event))
		if err != nil {
			return nil
		}
		coreFields := coreEvents.Fields(e)
		out := make(fields.Set, len(fieldLabels))
		for label, coreLabel := range fieldLabels {
			out[label] = coreFields[coreLabel]
		}
		return out
	}
	return d
}

// eventStrategy validates events.k8s.io/v1 Events as Kubernetes'
// ValidateEventCreate and ValidateEventUpdate do for a request through
// that API: the core Event's rules (legacy), then the stricter ones of
// the new API. Both judge the core/v1 form, so field paths name its
// fields (message, involvedObject), as Kubernetes' do.
type eventStrategy struct {
	apiresource.DefaultStrategy
	// legacy is the core/v1 Events' strategy.
	legacy apiresource.Strategy
}

// AllowCreateOnUpdate as for core/v1 Events: the one storage allows it.
func (s eventStrategy) AllowCreateOnUpdate() bool { return s.legacy.AllowCreateOnUpdate() }

func (s eventStrategy) Validate(obj runtime.Object) field.ErrorList {
	e, err := ToCore(obj.(*eventsv1.Event))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	errs := s.legacy.Validate(e)
	errs = append(errs, validateSeries(e)...)
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if !e.FirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
	}
	if !e.LastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
	}
	if e.Count != 0 {
		errs = append(errs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
	}
	if e.Source.Component != "" || e.Source.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
	}
	return errs
}

// ValidateUpdate lets an update change little more than the series: what
// happened, to what and by whom stays.
func (s eventStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	e, err := ToCore(obj.(*eventsv1.Event))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	o, err := ToCore(old.(*eventsv1.Event))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	errs := s.legacy.ValidateUpdate(e, o)
	if !reflect.DeepEqual(e.Series, o.Series) {
		errs = append(errs, validateSeries(e)...)
	}
	immutable := func(a, b any, name string) {
		errs = append(errs, apivalidation.ValidateImmutableField(a, b, field.NewPath(name))...)
	}
	immutable(e.InvolvedObject, o.InvolvedObject, "involvedObject")
	immutable(e.Reason, o.Reason, "reason")
	immutable(e.Message, o.Message, "message")
	immutable(e.Source, o.Source, "source")
	immutable(e.FirstTimestamp, o.FirstTimestamp, "firstTimestamp")
	immutable(e.LastTimestamp, o.LastTimestamp, "lastTimestamp")
	immutable(e.Count, o.Count, "count")
	immutable(e.Type, o.Type, "type")
	// Changes below a microsecond are no change: clients that truncate
	// eventTime to the microsecond when they write it back must not be
	// refused (kubernetes/kubernetes#111928).
	if !e.EventTime.Truncate(time.Microsecond).UTC().Equal(o.EventTime.Truncate(time.Microsecond).UTC()) {
		immutable(e.EventTime, o.EventTime, "eventTime")
	}
	immutable(e.Action, o.Action, "action")
	immutable(e.Related, o.Related, "related")
	immutable(e.ReportingController, o.ReportingController, "reportingController")
	immutable(e.ReportingInstance, o.ReportingInstance, "reportingInstance")
	return errs
}

// validateSeries checks an event seen more than once: a series counts at
// least two and says when it was last seen.
func validateSeries(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	if e.Series == nil {
		return nil
	}
	if e.Series.Count < 2 {
		errs = append(errs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
	}
	if e.Series.LastObservedTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("series.lastObservedTime"), ""))
	}
	return errs
}
