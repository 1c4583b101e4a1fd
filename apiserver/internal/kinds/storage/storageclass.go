package storage

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// storageClassStrategy defaults and validates StorageClasses as
// Kubernetes' storage.k8s.io/v1 API and pkg/apis/storage/validation do.
type storageClassStrategy struct{ apiresource.DefaultStrategy }

func (storageClassStrategy) Default(obj runtime.Object) {
	sc := obj.(*storagev1.StorageClass)
	if sc.ReclaimPolicy == nil {
		sc.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimDelete)
	}
	if sc.VolumeBindingMode == nil {
		sc.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	}
}

func (storageClassStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateStorageClass(obj.(*storagev1.StorageClass))
}

// ValidateUpdate refuses changes to how volumes are made: volumes already
// provisioned from the class were made the old way. As upstream's
// ValidateStorageClassUpdate, each is "field is immutable".
func (storageClassStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	sc, was := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
	errs := validateStorageClass(sc)
	errs = append(errs, apivalidation.ValidateImmutableField(sc.Parameters, was.Parameters, field.NewPath("parameters"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(sc.Provisioner, was.Provisioner, field.NewPath("provisioner"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(sc.ReclaimPolicy, was.ReclaimPolicy, field.NewPath("reclaimPolicy"))...)
	return append(errs, apivalidation.ValidateImmutableField(sc.VolumeBindingMode, was.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
}

const (
	maxParameters    = 512
	maxParameterSize = 256 * (1 << 10)
)

var (
	reclaimPolicies = sets.New(corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain)
	bindingModes    = sets.New(storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer)
)

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	ppath := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(ppath, ""))
	} else {
		for _, msg := range content.IsLabelKey(strings.ToLower(sc.Provisioner)) {
			errs = append(errs, field.Invalid(ppath, sc.Provisioner, msg))
		}
	}
	errs = append(errs, validateParameters(sc.Parameters, field.NewPath("parameters"))...)
	if p := sc.ReclaimPolicy; p != nil && !reclaimPolicies.Has(*p) {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), *p, sets.List(reclaimPolicies)))
	}
	mpath := field.NewPath("volumeBindingMode")
	switch m := sc.VolumeBindingMode; {
	case m == nil:
		errs = append(errs, field.Required(mpath, ""))
	case !bindingModes.Has(*m):
		errs = append(errs, field.NotSupported(mpath, *m, sets.List(bindingModes)))
	}
	errs = append(errs, validateAllowedTopologies(sc.AllowedTopologies, field.NewPath("allowedTopologies"))...)
	return errs
}

func validateParameters(params map[string]string, path *field.Path) field.ErrorList {
	if len(params) > maxParameters {
		return field.ErrorList{field.TooLong(path, "", maxParameters)}
	}
	var errs field.ErrorList
	size := 0
	for k, v := range params {
		if k == "" {
			errs = append(errs, field.Invalid(path, k, "field can not be empty."))
		}
		size += len(k) + len(v)
	}
	if size > maxParameterSize {
		errs = append(errs, field.TooLong(path, "", maxParameterSize))
	}
	return errs
}

// validateAllowedTopologies checks each term's requirements, and that no
// two terms ask for the same keys and values.
func validateAllowedTopologies(terms []corev1.TopologySelectorTerm, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	var seen []map[string]sets.Set[string]
	for i, term := range terms {
		tpath := path.Index(i).Child("matchLabelExpressions")
		exprs := make(map[string]sets.Set[string])
		for j, expr := range term.MatchLabelExpressions {
			epath := tpath.Index(j)
			if len(expr.Values) == 0 {
				errs = append(errs, field.Required(epath.Child("values"), ""))
			}
			values := sets.New[string]()
			for k, v := range expr.Values {
				if values.Has(v) {
					errs = append(errs, field.Duplicate(epath.Child("values").Index(k), v))
				}
				values.Insert(v)
			}
			errs = append(errs, metav1validation.ValidateLabelName(expr.Key, epath.Child("key"))...)
			if _, ok := exprs[expr.Key]; ok {
				errs = append(errs, field.Duplicate(epath.Child("key"), expr.Key))
			}
			exprs[expr.Key] = values
		}
		for _, other := range seen {
			if apiequality.Semantic.DeepEqual(exprs, other) {
				errs = append(errs, field.Duplicate(tpath, ""))
			}
		}
		seen = append(seen, exprs)
	}
	return errs
}
