package coordination

import (
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// leaseStrategy validates Leases as Kubernetes'
// pkg/apis/coordination/validation does.
type leaseStrategy struct{ apiresource.DefaultStrategy }

// AllowCreateOnUpdate lets a PUT create a Lease, as Kubernetes allows: a
// leader-election client may renew a lease that was never created or was
// deleted under it.
func (leaseStrategy) AllowCreateOnUpdate() bool { return true }

func (leaseStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateLeaseSpec(&obj.(*coordinationv1.Lease).Spec)
}

func (leaseStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateLeaseSpec(&obj.(*coordinationv1.Lease).Spec)
}

var specPath = field.NewPath("spec")

var leaseStrategies = []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}

func validateLeaseSpec(s *coordinationv1.LeaseSpec) field.ErrorList {
	var errs field.ErrorList
	if d := s.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := s.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseTransitions"), *t, "must be greater than or equal to 0"))
	}
	if s.Strategy != nil {
		errs = append(errs, validateStrategy(*s.Strategy, specPath.Child("strategy"))...)
	}
	if s.PreferredHolder != nil && *s.PreferredHolder != "" && (s.Strategy == nil || *s.Strategy == "") {
		errs = append(errs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// validateStrategy accepts Kubernetes' own strategies by bare name and
// anyone else's as a domain-prefixed name ("example.com/fastest").
func validateStrategy(s coordinationv1.CoordinatedLeaseStrategy, path *field.Path) field.ErrorList {
	if !strings.Contains(string(s), "/") {
		for _, known := range leaseStrategies {
			if s == known {
				return nil
			}
		}
		return field.ErrorList{field.NotSupported(path, s, leaseStrategies)}
	}
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(string(s)) {
		errs = append(errs, field.Invalid(path, s, msg))
	}
	return errs
}
