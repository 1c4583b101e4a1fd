package nodestatus

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestConditionEvents(t *testing.T) {
	status := func(mem, ready v1.ConditionStatus) *v1.NodeStatus {
		return &v1.NodeStatus{Conditions: []v1.NodeCondition{
			{Type: v1.NodeMemoryPressure, Status: mem},
			{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse},
			{Type: v1.NodePIDPressure, Status: v1.ConditionFalse},
			{Type: v1.NodeReady, Status: ready},
		}}
	}
	ev := func(reason string) Event {
		return Event{Type: v1.EventTypeNormal, Reason: reason, Message: "Node n1 status is now: " + reason}
	}
	for _, tc := range []struct {
		name     string
		old, new *v1.NodeStatus
		want     []Event
	}{
		{"first status: every condition", nil, status(v1.ConditionFalse, v1.ConditionTrue),
			[]Event{ev("NodeHasSufficientMemory"), ev("NodeHasNoDiskPressure"), ev("NodeHasSufficientPID"), ev("NodeReady")}},
		{"nothing changed", status(v1.ConditionFalse, v1.ConditionTrue), status(v1.ConditionFalse, v1.ConditionTrue), nil},
		{"not ready", status(v1.ConditionFalse, v1.ConditionTrue), status(v1.ConditionFalse, v1.ConditionFalse), []Event{ev("NodeNotReady")}},
		{"memory pressure", status(v1.ConditionFalse, v1.ConditionTrue), status(v1.ConditionTrue, v1.ConditionTrue), []Event{ev("NodeHasInsufficientMemory")}},
		{"unknown status has no event", status(v1.ConditionFalse, v1.ConditionTrue), status(v1.ConditionFalse, v1.ConditionUnknown), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConditionEvents("n1", tc.old, tc.new); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}
