package coordination

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestLeaseValidate(t *testing.T) {
	tests := []struct {
		name string
		spec coordinationv1.LeaseSpec
		path string
		typ  field.ErrorType
	}{
		{"node heartbeat lease is valid", coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("node-1"), LeaseDurationSeconds: ptr.To[int32](40), LeaseTransitions: ptr.To[int32](0)}, "", ""},
		{"empty lease is valid", coordinationv1.LeaseSpec{}, "", ""},
		{"duration must be positive", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](0)},
			"spec.leaseDurationSeconds", field.ErrorTypeInvalid},
		{"transitions may not be negative", coordinationv1.LeaseSpec{LeaseTransitions: ptr.To[int32](-1)},
			"spec.leaseTransitions", field.ErrorTypeInvalid},
		{"known strategy is valid", coordinationv1.LeaseSpec{
			Strategy: ptr.To(coordinationv1.OldestEmulationVersion), PreferredHolder: ptr.To("a")}, "", ""},
		{"domain-prefixed strategy is valid", coordinationv1.LeaseSpec{
			Strategy: ptr.To(coordinationv1.CoordinatedLeaseStrategy("example.com/fastest"))}, "", ""},
		{"unknown bare strategy is not supported", coordinationv1.LeaseSpec{
			Strategy: ptr.To(coordinationv1.CoordinatedLeaseStrategy("Fastest"))}, "spec.strategy", field.ErrorTypeNotSupported},
		{"preferred holder needs a strategy", coordinationv1.LeaseSpec{PreferredHolder: ptr.To("a")},
			"spec.preferredHolder", field.ErrorTypeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"}, Spec: tt.spec}
			s := Leases().Strategy
			for _, errs := range []field.ErrorList{s.Validate(l), s.ValidateUpdate(l, l.DeepCopy())} {
				if tt.path == "" {
					if len(errs) != 0 {
						t.Fatalf("want no errors, got %v", errs)
					}
					continue
				}
				if len(errs) == 0 || errs[0].Field != tt.path || errs[0].Type != tt.typ {
					t.Fatalf("want %s at %s first, got %v", tt.typ, tt.path, errs)
				}
			}
		})
	}
}

func TestLeaseCanBeCreatedByPut(t *testing.T) {
	if !Leases().Strategy.AllowCreateOnUpdate() {
		t.Errorf("PUT of a missing Lease must create it, as in Kubernetes")
	}
}
