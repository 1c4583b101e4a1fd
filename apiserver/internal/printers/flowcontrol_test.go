package printers

import (
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
)

func TestFlowSchemaCells(t *testing.T) {
	tests := []struct {
		name string
		fs   flowcontrolv1.FlowSchema
		want []interface{}
	}{
		{"not yet judged, no distinguisher", flowcontrolv1.FlowSchema{
			ObjectMeta: meta("exempt"),
			Spec: flowcontrolv1.FlowSchemaSpec{
				PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "exempt"}, MatchingPrecedence: 1,
			},
		}, []interface{}{"exempt", "exempt", int64(1), "<none>", "10d", "?"}},
		{"dangling reference", flowcontrolv1.FlowSchema{
			ObjectMeta: meta("mine"),
			Spec: flowcontrolv1.FlowSchemaSpec{
				PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "gone"}, MatchingPrecedence: 500,
				DistinguisherMethod: &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			},
			Status: flowcontrolv1.FlowSchemaStatus{Conditions: []flowcontrolv1.FlowSchemaCondition{
				{Type: "Other", Status: flowcontrolv1.ConditionFalse},
				{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionTrue},
			}},
		}, []interface{}{"mine", "gone", int64(500), "ByUser", "10d", "True"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, flowSchemaCells(&tt.fs, testNow()), tt.want)
			if n := len(FlowSchema().Columns); n != len(tt.want) {
				t.Errorf("%d columns for %d cells", n, len(tt.want))
			}
		})
	}
}

func TestPriorityLevelConfigurationCells(t *testing.T) {
	tests := []struct {
		name string
		pl   flowcontrolv1.PriorityLevelConfiguration
		want []interface{}
	}{
		{"exempt has no limits", flowcontrolv1.PriorityLevelConfiguration{
			ObjectMeta: meta("exempt"),
			Spec:       flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt},
		}, []interface{}{"exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "10d"}},
		{"rejecting level has shares but no queues", flowcontrolv1.PriorityLevelConfiguration{
			ObjectMeta: meta("catch-all"),
			Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
				Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr(int32(5)),
					LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}},
		}, []interface{}{"catch-all", "Limited", int64(5), "<none>", "<none>", "<none>", "10d"}},
		{"queuing level", flowcontrolv1.PriorityLevelConfiguration{
			ObjectMeta: meta("workload-low"),
			Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
				Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr(int32(100)),
					LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
						Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 128, HandSize: 6, QueueLengthLimit: 50}}}},
		}, []interface{}{"workload-low", "Limited", int64(100), int64(128), int64(6), int64(50), "10d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, priorityLevelCells(&tt.pl, testNow()), tt.want)
			if n := len(PriorityLevelConfiguration().Columns); n != len(tt.want) {
				t.Errorf("%d columns for %d cells", n, len(tt.want))
			}
		})
	}
}
