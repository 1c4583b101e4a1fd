package apps

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestControllerRevisionValidation(t *testing.T) {
	s := controllerRevisionStrategy{}
	ok := &appsv1.ControllerRevision{Revision: 1, Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}}
	tests := []struct {
		name  string
		errs  int
		field string
		run   func() int
	}{
		{"valid", 0, "", func() int { return len(s.Validate(ok)) }},
		{"data required", 1, "data", func() int { return len(s.Validate(&appsv1.ControllerRevision{Revision: 1})) }},
		{"negative revision", 1, "revision", func() int {
			return len(s.Validate(&appsv1.ControllerRevision{Revision: -1, Data: ok.Data}))
		}},
		{"data immutable", 1, "data", func() int {
			changed := ok.DeepCopy()
			changed.Data.Raw = []byte(`{"spec":{"x":1}}`)
			return len(s.ValidateUpdate(changed, ok))
		}},
		{"revision may change", 0, "", func() int {
			changed := ok.DeepCopy()
			changed.Revision = 7
			return len(s.ValidateUpdate(changed, ok))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(); got != tt.errs {
				t.Fatalf("%d errors, want %d", got, tt.errs)
			}
		})
	}
}
