package flowcontrol

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/utils/ptr"
)

// Kubernetes' defaults (pkg/apis/flowcontrol/v1/defaults.go).
const (
	DefaultMatchingPrecedence       int32 = 1000
	DefaultHandSize                 int32 = 8
	DefaultQueues                   int32 = 64
	DefaultQueueLengthLimit         int32 = 50
	DefaultNominalConcurrencyShares int32 = 30
)

// DefaultFlowSchemaSpec fills what a FlowSchema's spec leaves unset: its
// matchingPrecedence.
func DefaultFlowSchemaSpec(spec *flowcontrolv1.FlowSchemaSpec) {
	if spec.MatchingPrecedence == 0 {
		spec.MatchingPrecedence = DefaultMatchingPrecedence
	}
}

// DefaultPriorityLevelSpec fills what a priority level's spec leaves
// unset. In v1 an explicit nominalConcurrencyShares of 0 is kept (a level
// that only borrows); only a missing one becomes 30.
func DefaultPriorityLevelSpec(spec *flowcontrolv1.PriorityLevelConfigurationSpec) {
	if l := spec.Limited; l != nil {
		if l.NominalConcurrencyShares == nil {
			l.NominalConcurrencyShares = ptr.To(DefaultNominalConcurrencyShares)
		}
		if l.LendablePercent == nil {
			l.LendablePercent = ptr.To(int32(0))
		}
		if q := l.LimitResponse.Queuing; q != nil {
			if q.HandSize == 0 {
				q.HandSize = DefaultHandSize
			}
			if q.Queues == 0 {
				q.Queues = DefaultQueues
			}
			if q.QueueLengthLimit == 0 {
				q.QueueLengthLimit = DefaultQueueLengthLimit
			}
		}
	}
	if e := spec.Exempt; e != nil {
		if e.NominalConcurrencyShares == nil {
			e.NominalConcurrencyShares = ptr.To(int32(0))
		}
		if e.LendablePercent == nil {
			e.LendablePercent = ptr.To(int32(0))
		}
	}
}
