package create

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestPDBFlags(t *testing.T) {
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tests := []struct {
		name     string
		flags    pdbFlags
		min, max *intstr.IntOrString
		selector *metav1.LabelSelector
		wantErr  string
	}{
		{"minAvailable as a number", pdbFlags{selector: "app=web", minAvailable: "1"}, ptr.To(intstr.FromInt32(1)), nil, web, ""},
		{"maxUnavailable as a percentage", pdbFlags{selector: "app=web", maxUnavailable: "50%"}, nil, ptr.To(intstr.FromString("50%")), web, ""},
		{"several labels", pdbFlags{selector: "app=web,tier=front", minAvailable: "2"}, ptr.To(intstr.FromInt32(2)), nil,
			&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"}}, ""},
		{"no selector", pdbFlags{minAvailable: "1"}, nil, nil, nil, "a selector must be specified"},
		{"no bound", pdbFlags{selector: "app=web"}, nil, nil, nil, "one of min-available or max-unavailable must be specified"},
		{"both bounds", pdbFlags{selector: "app=web", minAvailable: "1", maxUnavailable: "1"}, nil, nil, nil,
			"min-available and max-unavailable cannot be both specified"},
		{"a bound with units", pdbFlags{selector: "app=web", minAvailable: "10Gb"}, nil, nil, nil, "invalid format specified for min-available"},
		{"a negative bound", pdbFlags{selector: "app=web", maxUnavailable: "-1"}, nil, nil, nil, "invalid format specified for max-unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb, err := tt.flags.budget("my-pdb")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pdb.Name != "my-pdb" || !equality.Semantic.DeepEqual(pdb.Spec.MinAvailable, tt.min) ||
				!equality.Semantic.DeepEqual(pdb.Spec.MaxUnavailable, tt.max) || !equality.Semantic.DeepEqual(pdb.Spec.Selector, tt.selector) {
				t.Errorf("budget %+v", pdb)
			}
		})
	}
}
