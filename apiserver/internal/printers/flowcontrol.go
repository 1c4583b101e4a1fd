package printers

import (
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/apiserver/internal/apiresource"
)

// FlowSchema columns: Name, PriorityLevel, MatchingPrecedence,
// DistinguisherMethod, Age, MissingPL.
func FlowSchema() *apiresource.Table {
	spec := flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("PriorityLevel", "string", flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"]),
		column("MatchingPrecedence", "string", spec["matchingPrecedence"]),
		column("DistinguisherMethod", "string", spec["distinguisherMethod"]),
		ageColumn(),
		column("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration"),
	}, flowSchemaCells)
}

// flowSchemaCells shows the Dangling condition's status as MissingPL:
// "?" until the apiserver has judged the reference.
func flowSchemaCells(fs *flowcontrolv1.FlowSchema, now time.Time) []interface{} {
	method := "<none>"
	if fs.Spec.DistinguisherMethod != nil {
		method = string(fs.Spec.DistinguisherMethod.Type)
	}
	missing := "?"
	for _, c := range fs.Status.Conditions {
		if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
			missing = string(c.Status)
			break
		}
	}
	return []interface{}{
		fs.Name, fs.Spec.PriorityLevelConfiguration.Name, int64(fs.Spec.MatchingPrecedence), method,
		since(fs.CreationTimestamp, now), missing,
	}
}

// PriorityLevelConfiguration columns: Name, Type,
// NominalConcurrencyShares, Queues, HandSize, QueueLengthLimit, Age.
func PriorityLevelConfiguration() *apiresource.Table {
	queuing := flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string", flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"]),
		column("NominalConcurrencyShares", "string", flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"]),
		column("Queues", "string", queuing["queues"]),
		column("HandSize", "string", queuing["handSize"]),
		column("QueueLengthLimit", "string", queuing["queueLengthLimit"]),
		ageColumn(),
	}, priorityLevelCells)
}

// priorityLevelCells shows "<none>" for what an exempt or rejecting level
// does not have.
func priorityLevelCells(pl *flowcontrolv1.PriorityLevelConfiguration, now time.Time) []interface{} {
	var shares, queues, handSize, queueLengthLimit interface{} = "<none>", "<none>", "<none>", "<none>"
	if l := pl.Spec.Limited; l != nil {
		if l.NominalConcurrencyShares != nil {
			shares = int64(*l.NominalConcurrencyShares)
		}
		if q := l.LimitResponse.Queuing; q != nil {
			queues, handSize, queueLengthLimit = int64(q.Queues), int64(q.HandSize), int64(q.QueueLengthLimit)
		}
	}
	return []interface{}{pl.Name, string(pl.Spec.Type), shares, queues, handSize, queueLengthLimit, since(pl.CreationTimestamp, now)}
}
