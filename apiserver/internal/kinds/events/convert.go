package events

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
)

// ToCore returns an events.k8s.io/v1 Event as core/v1 keeps it, as
// Kubernetes converts it: regarding is involvedObject, note is message,
// and the deprecated fields are the old API's source, timestamps and
// count. in is not modified; the result shares nothing with it.
func ToCore(in *eventsv1.Event) (*corev1.Event, error) {
	in = in.DeepCopy()
	out := &corev1.Event{
		TypeMeta:            in.TypeMeta,
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	out.APIVersion = corev1.SchemeGroupVersion.String()
	if s := in.Series; s != nil {
		out.Series = &corev1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out, nil
}

// FromCore returns a core/v1 Event as events.k8s.io/v1 shows it, the
// inverse of ToCore. in is not modified; the result shares nothing with
// it.
func FromCore(in *corev1.Event) (*eventsv1.Event, error) {
	in = in.DeepCopy()
	out := &eventsv1.Event{
		TypeMeta:                 in.TypeMeta,
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	out.APIVersion = eventsv1.SchemeGroupVersion.String()
	if s := in.Series; s != nil {
		out.Series = &eventsv1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out, nil
}
