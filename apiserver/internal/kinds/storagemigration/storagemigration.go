// Package storagemigration defines storagemigration.k8s.io/v1
// StorageVersionMigrations: requests to rewrite every stored object of
// one resource, so that all of them are stored in the current storage
// version (and with the current encryption key). The apiserver serves and
// validates them as Kubernetes' pkg/apis/storagemigration does; the spec
// is immutable and the status, conditions and the resourceVersion the
// migration starts from, is the migrating controller's to write. Coracle
// has no such controller yet: the objects are stored as asked.
package storagemigration

import (
	"strings"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// ResourceStorageVersionMigrations is the kind's resource name.
const ResourceStorageVersionMigrations = "storageversionmigrations"

// All returns the storagemigration.k8s.io/v1 kinds.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{StorageVersionMigrations()}
}

// StorageVersionMigrations: cluster-scoped, with a status subresource.
func StorageVersionMigrations() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(storagemigrationv1.SchemeGroupVersion, ResourceStorageVersionMigrations,
		&storagemigrationv1.StorageVersionMigration{}, &storagemigrationv1.StorageVersionMigrationList{})
	d.Subresources = []string{apiresource.Status}
	d.Strategy = strategy{}
	d.Table = printers.StorageVersionMigration()
	return d
}

// strategy validates StorageVersionMigrations; a create or update of the
// object leaves the status as it was.
type strategy struct{ apiresource.DefaultStrategy }

func (strategy) PrepareForCreate(obj runtime.Object) {
	obj.(*storagemigrationv1.StorageVersionMigration).Status = storagemigrationv1.StorageVersionMigrationStatus{}
}

func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*storagemigrationv1.StorageVersionMigration).Status = old.(*storagemigrationv1.StorageVersionMigration).Status
}

func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validateSpec(&obj.(*storagemigrationv1.StorageVersionMigration).Spec)
}

// ValidateUpdate refuses any change of the spec: a migration is of one
// resource for its whole life.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	m, was := obj.(*storagemigrationv1.StorageVersionMigration), old.(*storagemigrationv1.StorageVersionMigration)
	errs := validateSpec(&m.Spec)
	return append(errs, apivalidation.ValidateImmutableField(m.Spec, was.Spec, field.NewPath("spec"))...)
}

// validateSpec checks the resource as upstream (and as an APIService's
// names are checked): the resource a DNS-1035 label, the group, if any,
// a DNS-1123 subdomain.
func validateSpec(spec *storagemigrationv1.StorageVersionMigrationSpec) field.ErrorList {
	path := field.NewPath("spec", "resource")
	var errs field.ErrorList
	if spec.Resource.Resource == "" {
		errs = append(errs, field.Required(path.Child("resource"), "resource is required to be set"))
	} else if msgs := utilvalidation.IsDNS1035Label(spec.Resource.Resource); len(msgs) > 0 {
		errs = append(errs, field.Invalid(path.Child("resource"), spec.Resource.Resource, strings.Join(msgs, ",")))
	}
	if spec.Resource.Group != "" {
		if msgs := utilvalidation.IsDNS1123Subdomain(spec.Resource.Group); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Child("group"), spec.Resource.Group, strings.Join(msgs, ",")))
		}
	}
	return errs
}

// ValidateStatusUpdate checks a status write as upstream: the
// resourceVersion is a valid one and, once set, never changes; the
// conditions are well formed; Succeeded and Failed are never both true,
// and neither goes back once true.
func (strategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	m, was := obj.(*storagemigrationv1.StorageVersionMigration), old.(*storagemigrationv1.StorageVersionMigration)
	path := field.NewPath("status")
	var errs field.ErrorList
	if rv := m.Status.ResourceVersion; rv != "" {
		// Compared with itself, only to learn whether it parses.
		if _, err := resourceversion.CompareResourceVersion(rv, rv); err != nil {
			errs = append(errs, field.Invalid(path.Child("resourceVersion"), rv, err.Error()))
		}
	}
	errs = append(errs, metav1validation.ValidateConditions(m.Status.Conditions, path.Child("conditions"))...)
	if was.Status.ResourceVersion != "" && was.Status.ResourceVersion != m.Status.ResourceVersion {
		errs = append(errs, field.Invalid(path.Child("resourceVersion"), m.Status.ResourceVersion, "field is immutable"))
	}
	succeeded, failed := isTrue(m, storagemigrationv1.MigrationSucceeded), isTrue(m, storagemigrationv1.MigrationFailed)
	if succeeded && failed {
		errs = append(errs, field.Invalid(path.Child("conditions"), m.Status.Conditions, "Both success and failed conditions cannot be true at the same time"))
	}
	if isTrue(was, storagemigrationv1.MigrationSucceeded) && !succeeded {
		errs = append(errs, field.Invalid(path.Child("conditions"), m.Status.Conditions, "Success condition cannot be set to false once it is true"))
	}
	if isTrue(was, storagemigrationv1.MigrationFailed) && !failed {
		errs = append(errs, field.Invalid(path.Child("conditions"), m.Status.Conditions, "Failed condition cannot be set to false once it is true"))
	}
	return errs
}

func isTrue(m *storagemigrationv1.StorageVersionMigration, typ storagemigrationv1.MigrationConditionType) bool {
	return meta.IsStatusConditionTrue(m.Status.Conditions, string(typ))
}
