package events

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

var eventTime = metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC))

func newEvent() *eventsv1.Event {
	return &eventsv1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta:          metav1.ObjectMeta{Name: "web.1", Namespace: "team"},
		EventTime:           eventTime,
		ReportingController: "example.com/controller",
		ReportingInstance:   "controller-1",
		Action:              "Scale",
		Reason:              "Scaled",
		Regarding:           corev1.ObjectReference{Kind: "Deployment", Namespace: "team", Name: "web", APIVersion: "apps/v1"},
		Note:                "scaled to 3",
		Type:                corev1.EventTypeNormal,
	}
}

func TestConversion(t *testing.T) {
	first, last := metav1.NewTime(time.Unix(1700000000, 0)), metav1.NewTime(time.Unix(1700000100, 0))
	tests := []struct {
		name string
		in   *eventsv1.Event
		want *corev1.Event
	}{
		{"new-style fields map one to one", newEvent(), &corev1.Event{
			TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
			ObjectMeta:     metav1.ObjectMeta{Name: "web.1", Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Namespace: "team", Name: "web", APIVersion: "apps/v1"},
			Reason:         "Scaled", Message: "scaled to 3", Type: corev1.EventTypeNormal, EventTime: eventTime,
			Action: "Scale", ReportingController: "example.com/controller", ReportingInstance: "controller-1",
		}},
		{"deprecated fields are the old API's, series and related carried", func() *eventsv1.Event {
			e := newEvent()
			e.DeprecatedSource = corev1.EventSource{Component: "kubelet", Host: "node-a"}
			e.DeprecatedFirstTimestamp, e.DeprecatedLastTimestamp, e.DeprecatedCount = first, last, 4
			e.Series = &eventsv1.EventSeries{Count: 4, LastObservedTime: eventTime}
			e.Related = &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}
			return e
		}(), &corev1.Event{
			TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
			ObjectMeta:     metav1.ObjectMeta{Name: "web.1", Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Namespace: "team", Name: "web", APIVersion: "apps/v1"},
			Reason:         "Scaled", Message: "scaled to 3", Type: corev1.EventTypeNormal, EventTime: eventTime,
			Action: "Scale", ReportingController: "example.com/controller", ReportingInstance: "controller-1",
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
			FirstTimestamp: first, LastTimestamp: last, Count: 4,
			Series:  &corev1.EventSeries{Count: 4, LastObservedTime: eventTime},
			Related: &corev1.ObjectReference{Kind: "Pod", Name: "web-1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.DeepCopy()
			got, err := ToCore(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ToCore (-want +got):\n%s", diff)
			}
			back, err := FromCore(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.in); diff != "" {
				t.Errorf("the input changed:\n%s", diff)
			}
		})
	}
}

func TestFields(t *testing.T) {
	d := Events()
	e := newEvent()
	e.DeprecatedSource.Component = "kubelet"
	got := d.Fields(e)
	want := map[string]string{
		"reason": "Scaled", "type": "Normal", "reportingController": "example.com/controller",
		"regarding.kind": "Deployment", "regarding.namespace": "team", "regarding.name": "web",
		"regarding.uid": "", "regarding.apiVersion": "apps/v1", "regarding.resourceVersion": "", "regarding.fieldPath": "",
	}
	if diff := cmp.Diff(want, map[string]string(got)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	for _, label := range []string{"regarding.name", "reportingController", "metadata.name"} {
		if !d.SupportsFieldLabel(label) {
			t.Errorf("%s is not selectable", label)
		}
	}
	for _, label := range []string{"involvedObject.name", "source"} {
		if d.SupportsFieldLabel(label) {
			t.Errorf("%s is selectable; events.k8s.io/v1 does not name it", label)
		}
	}
}

func TestValidate(t *testing.T) {
	kindstest.Create(t, Events().Strategy, newEvent, []kindstest.Case[*eventsv1.Event]{
		{Name: "a complete event is valid", Mutate: func(*eventsv1.Event) {}},
		{Name: "eventTime is required", Mutate: func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }, Path: "eventTime", Type: field.ErrorTypeRequired},
		{Name: "the reporting controller is required", Mutate: func(e *eventsv1.Event) { e.ReportingController = "" }, Path: "reportingController", Type: field.ErrorTypeRequired},
		{Name: "the reporting instance is required", Mutate: func(e *eventsv1.Event) { e.ReportingInstance = "" }, Path: "reportingInstance", Type: field.ErrorTypeRequired},
		{Name: "the action is required", Mutate: func(e *eventsv1.Event) { e.Action = "" }, Path: "action", Type: field.ErrorTypeRequired},
		{Name: "the reason is required", Mutate: func(e *eventsv1.Event) { e.Reason = "" }, Path: "reason", Type: field.ErrorTypeRequired},
		{Name: "the note is at most 1 KB", Mutate: func(e *eventsv1.Event) { e.Note = strings.Repeat("n", 1025) }, Path: "message", Type: field.ErrorTypeInvalid},
		{Name: "the type is Normal or Warning", Mutate: func(e *eventsv1.Event) { e.Type = "Info" }, Path: "type", Type: field.ErrorTypeInvalid},
		{Name: "a series counts at least two", Mutate: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 1, LastObservedTime: eventTime}
		}, Path: "series.count", Type: field.ErrorTypeInvalid},
		{Name: "a series says when it was last seen", Mutate: func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 2} },
			Path: "series.lastObservedTime", Type: field.ErrorTypeRequired},
		{Name: "the deprecated count stays unset", Mutate: func(e *eventsv1.Event) { e.DeprecatedCount = 2 }, Path: "count", Type: field.ErrorTypeInvalid},
		{Name: "the deprecated source stays unset", Mutate: func(e *eventsv1.Event) { e.DeprecatedSource.Component = "kubelet" }, Path: "source", Type: field.ErrorTypeInvalid},
		{Name: "the deprecated timestamps stay unset", Mutate: func(e *eventsv1.Event) { e.DeprecatedFirstTimestamp = metav1.Now() },
			Path: "firstTimestamp", Type: field.ErrorTypeInvalid},
		{Name: "an event lives in its object's namespace", Mutate: func(e *eventsv1.Event) { e.Regarding.Namespace = "" },
			Path: "involvedObject.namespace", Type: field.ErrorTypeInvalid},
	})
}

func TestValidateUpdate(t *testing.T) {
	kindstest.Update(t, Events().Strategy, newEvent, "", []kindstest.Case[*eventsv1.Event]{
		{Name: "a series may grow", Mutate: func(e *eventsv1.Event) {
			e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: eventTime}
		}},
		{Name: "a sub-microsecond change of eventTime is no change", Mutate: func(e *eventsv1.Event) {
			e.EventTime = metav1.NewMicroTime(eventTime.Add(300 * time.Nanosecond))
		}},
		{Name: "the note is immutable", Mutate: func(e *eventsv1.Event) { e.Note = "other" }, Path: "message", Type: field.ErrorTypeInvalid},
		{Name: "what it regards is immutable", Mutate: func(e *eventsv1.Event) { e.Regarding.UID = "x" }, Path: "involvedObject", Type: field.ErrorTypeInvalid},
		{Name: "the reporting instance is immutable", Mutate: func(e *eventsv1.Event) { e.ReportingInstance = "controller-2" },
			Path: "reportingInstance", Type: field.ErrorTypeInvalid},
		{Name: "eventTime is immutable", Mutate: func(e *eventsv1.Event) { e.EventTime = metav1.NewMicroTime(eventTime.Add(time.Second)) },
			Path: "eventTime", Type: field.ErrorTypeInvalid},
		{Name: "a changed series is validated", Mutate: func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1, LastObservedTime: eventTime} },
			Path: "series.count", Type: field.ErrorTypeInvalid},
	})
}
