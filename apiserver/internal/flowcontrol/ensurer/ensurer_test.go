package ensurer

import (
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	"k8s.io/utils/ptr"

	kindsflowcontrol "coracle.dev/apiserver/internal/kinds/flowcontrol"
)

// stored is want as the apiserver stores it: defaulted, at generation,
// with the annotation set to annotation ("" for none).
func stored(want *flowcontrolv1.PriorityLevelConfiguration, generation int64, annotation string) *flowcontrolv1.PriorityLevelConfiguration {
	pl := want.DeepCopy()
	kindsflowcontrol.DefaultPriorityLevelSpec(&pl.Spec)
	pl.Generation = generation
	pl.Annotations = map[string]string{}
	if annotation != "" {
		pl.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] = annotation
	}
	return pl
}

func withShares(pl *flowcontrolv1.PriorityLevelConfiguration, n int32) *flowcontrolv1.PriorityLevelConfiguration {
	pl.Spec.Limited.NominalConcurrencyShares = ptr.To(n)
	return pl
}

func TestRevise(t *testing.T) {
	suggested := bootstrap.SuggestedPriorityLevelConfigurationWorkloadLow
	catchAll := bootstrap.MandatoryPriorityLevelConfigurationCatchAll
	exempt := bootstrap.MandatoryPriorityLevelConfigurationExempt
	tests := []struct {
		name       string
		current    *flowcontrolv1.PriorityLevelConfiguration
		want       *flowcontrolv1.PriorityLevelConfiguration
		mandatory  bool
		changed    bool
		shares     int32 // of the result, for limited levels
		annotation string
	}{
		{"up to date: nothing to write", stored(suggested, 1, "true"), suggested, false, false, 100, "true"},
		{"suggested, annotated true, changed: put back", withShares(stored(suggested, 2, "true"), 7), suggested, false, true, 100, "true"},
		{"suggested, annotated false, changed: kept", withShares(stored(suggested, 2, "false"), 7), suggested, false, false, 7, "false"},
		{"suggested, unannotated, never changed: updated and annotated true", withShares(stored(suggested, 1, ""), 7), suggested, false, true, 100, "true"},
		{"suggested, unannotated, changed by someone: kept, annotated false", withShares(stored(suggested, 3, ""), 7), suggested, false, true, 7, "false"},
		{"suggested, unreadable annotation, changed by someone: kept, annotated false", withShares(stored(suggested, 3, "maybe"), 7), suggested, false, true, 7, "false"},
		{"mandatory, annotated false: put back, annotated true", withShares(stored(catchAll, 4, "false"), 50), catchAll, true, true, 5, "true"},
		{"mandatory, unannotated, as shipped: annotated true", stored(catchAll, 1, ""), catchAll, true, true, 5, "true"},
		{"exempt's tuned shares are the administrator's", stored(exempt, 2, "true"), exempt, true, false, 0, "true"},
	}
	k := priorityLevels(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.current.DeepCopy()
			got, changed := Revise(tt.current, tt.want, tt.mandatory, k.specEqual, k.withSpec)
			if changed != tt.changed {
				t.Fatalf("changed = %v, want %v", changed, tt.changed)
			}
			if got.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != tt.annotation {
				t.Errorf("annotation = %q, want %q", got.Annotations[flowcontrolv1.AutoUpdateAnnotationKey], tt.annotation)
			}
			if got.Spec.Limited != nil {
				if n := *got.Spec.Limited.NominalConcurrencyShares; n != tt.shares {
					t.Errorf("shares = %d, want %d", n, tt.shares)
				}
			}
			if changed && tt.current.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != before.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] {
				t.Errorf("Revise changed the stored object it was given")
			}
		})
	}

	t.Run("exempt's tuning survives, its type does not change", func(t *testing.T) {
		cur := stored(exempt, 2, "true")
		cur.Spec.Exempt.NominalConcurrencyShares = ptr.To(int32(40))
		if _, changed := Revise(cur, exempt, true, k.specEqual, k.withSpec); changed {
			t.Errorf("tuned exempt shares were reverted")
		}
	})
}

func TestReviseFlowSchemaDefaults(t *testing.T) {
	// The shipped objects leave nothing to default, but a stored object
	// is compared with the bootstrap one defaulted, so that a default the
	// server fills in is not a difference.
	want := bootstrap.SuggestedFlowSchemaGlobalDefault.DeepCopy()
	want.Spec.MatchingPrecedence = 0
	cur := want.DeepCopy()
	kindsflowcontrol.DefaultFlowSchemaSpec(&cur.Spec)
	cur.Generation = 1
	k := flowSchemas(nil)
	if _, changed := Revise(cur, want, false, k.specEqual, k.withSpec); changed {
		t.Errorf("a defaulted copy of the bootstrap schema was revised")
	}
}
