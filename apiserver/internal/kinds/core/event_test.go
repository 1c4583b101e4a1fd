package core

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateEvent(t *testing.T) {
	now := metav1.NewMicroTime(time.Unix(1700000000, 0))
	tests := []struct {
		name string
		e    corev1.Event
		want []string
	}{
		{"an event in its object's namespace is valid", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "web"}, Reason: "Started"}, nil},
		{"an event lives in its object's namespace", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "other"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "web"}},
			[]string{"involvedObject.namespace: Invalid value"}},
		{"a cluster-scoped object's event may live in default", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-a"}}, nil},
		{"a cluster-scoped object's event may not live elsewhere", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-a"}},
			[]string{"involvedObject.namespace: Invalid value"}},
		{"a new-style event names its reporter and action", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "web"}, EventTime: now, Reason: "Started"},
			[]string{"reportingComponent: Required value", "reportingComponent: Invalid value", "reportingComponent: Invalid value", "reportingInstance: Required value", "action: Required value"}},
		{"a new-style event's reporter is a qualified name", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "web"}, EventTime: now,
			ReportingController: "my controller", ReportingInstance: "ctl-1", Action: "Start", Reason: "Started"},
			[]string{"reportingComponent: Invalid value"}},
		{"a new-style event's reason is short", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "web"}, EventTime: now,
			ReportingController: "example.com/ctl", ReportingInstance: "ctl-1", Action: "Start", Reason: strings.Repeat("r", 129)},
			[]string{"reason: Invalid value"}},
		{"a new-style event's message is at most 1024 characters", corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "web"}, EventTime: now,
			ReportingController: "example.com/ctl", ReportingInstance: "ctl-1", Action: "Start", Reason: "Started", Message: strings.Repeat("m", 1025)},
			[]string{"message: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, eventStrategy{}.Validate(&tt.e), tt.want...)
			checkErrs(t, eventStrategy{}.ValidateUpdate(&tt.e, &tt.e), tt.want...)
		})
	}
	t.Run("through events.k8s.io the reporter is reportingController", func(t *testing.T) {
		e := corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team", Name: "web"}, EventTime: now,
			ReportingController: "my controller", ReportingInstance: "ctl-1", Action: "Start", Reason: "Started"}
		checkErrs(t, EventsAPIStrategy().Validate(&e), "reportingController: Invalid value")
		checkErrs(t, EventsAPIStrategy().ValidateUpdate(&e, &e), "reportingController: Invalid value")
	})
	t.Run("a PUT may create an event", func(t *testing.T) {
		eq(t, eventStrategy{}.AllowCreateOnUpdate(), true)
	})
}
