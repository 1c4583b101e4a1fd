package core

import (
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedReclaim     = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

// persistentVolumeStrategy: a PV's source and volume mode are fixed at
// creation; the PV controller writes its status.
type persistentVolumeStrategy struct{ apiresource.DefaultStrategy }

func (persistentVolumeStrategy) Default(obj runtime.Object) {
	pv := obj.(*corev1.PersistentVolume)
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		pv.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	}
	if hp := pv.Spec.HostPath; hp != nil && hp.Type == nil {
		hp.Type = ptr.To(corev1.HostPathUnset)
	}
}

func (persistentVolumeStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
}

func (persistentVolumeStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validatePersistentVolume(obj.(*corev1.PersistentVolume))
}

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	spec := &pv.Spec
	sp := field.NewPath("spec")
	errs := validateAccessModes(spec.AccessModes, sp.Child("accessModes"), "")
	capPath := sp.Child("capacity")
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(capPath, sortedKeys(spec.Capacity), []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedKeys(spec.Capacity) {
		errs = append(errs, validatePositiveQuantity(spec.Capacity[name], capPath.Key(string(name)))...)
	}
	if r := spec.PersistentVolumeReclaimPolicy; r != "" {
		switch r {
		case corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain:
		default:
			errs = append(errs, field.NotSupported(sp.Child("persistentVolumeReclaimPolicy"), r, supportedReclaim))
		}
	}
	hasAffinity := false
	if na := spec.NodeAffinity; na != nil {
		hasAffinity = true
		if na.Required == nil {
			errs = append(errs, field.Required(sp.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			errs = append(errs, validateNodeSelector(na.Required, sp.Child("nodeAffinity", "required"))...)
		}
	}
	first, srcErrs := validateOneSource(spec.PersistentVolumeSource, sp)
	errs = append(errs, srcErrs...)
	if first != "" {
		fp := sp.Child(first)
		switch {
		case spec.HostPath != nil:
			errs = append(errs, validateHostPath(spec.HostPath, fp)...)
			if path.Clean(spec.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
				errs = append(errs, field.Forbidden(sp.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
			}
		case spec.Local != nil:
			if spec.Local.Path == "" {
				errs = append(errs, field.Required(fp.Child("path"), ""))
			} else {
				errs = append(errs, validatePathNoBacksteps(spec.Local.Path, fp.Child("path"))...)
			}
			// A local volume exists on one node only.
			if !hasAffinity {
				errs = append(errs, field.Required(sp.Child("nodeAffinity"), "Local volume requires node affinity"))
			}
		case spec.NFS != nil:
			errs = append(errs, validateNFS(spec.NFS, fp)...)
		case spec.CSI != nil:
			if spec.CSI.Driver == "" {
				errs = append(errs, field.Required(fp.Child("driver"), ""))
			}
			if spec.CSI.VolumeHandle == "" {
				errs = append(errs, field.Required(fp.Child("volumeHandle"), ""))
			}
		}
	}
	if spec.StorageClassName != "" {
		errs = append(errs, validateDNSSubdomain(spec.StorageClassName, sp.Child("storageClassName"))...)
	}
	errs = append(errs, validateVolumeMode(spec.VolumeMode, sp.Child("volumeMode"))...)
	return errs
}

// validateAccessModes checks access modes; ReadWriteOncePod excludes the
// others. required is the detail when none is given.
func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path, required string) field.ErrorList {
	var errs field.ErrorList
	if len(modes) == 0 {
		errs = append(errs, field.Required(p, required))
	}
	rwop, other := false, false
	for _, m := range modes {
		switch m {
		case corev1.ReadWriteOncePod:
			rwop = true
		case corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany:
			other = true
		default:
			errs = append(errs, field.NotSupported(p, m, supportedAccessModes))
		}
	}
	if rwop && other {
		errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validateVolumeMode(mode *corev1.PersistentVolumeMode, p *field.Path) field.ErrorList {
	if mode == nil || *mode == corev1.PersistentVolumeBlock || *mode == corev1.PersistentVolumeFilesystem {
		return nil
	}
	return field.ErrorList{field.NotSupported(p, *mode, supportedVolumeModes)}
}

// ValidateUpdate: a PV's source, volume mode and node affinity (once set)
// are fixed; capacity, class and reclaim policy may change.
func (persistentVolumeStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	sp := field.NewPath("spec")
	errs := validatePersistentVolume(pv)
	newSource := pv.Spec.PersistentVolumeSource
	// A CSI volume may gain the secret for expanding it.
	if oldPV.Spec.CSI != nil && oldPV.Spec.CSI.ControllerExpandSecretRef == nil && newSource.CSI != nil {
		newSource = *newSource.DeepCopy()
		newSource.CSI.ControllerExpandSecretRef = nil
	}
	if !equality.Semantic.DeepEqual(newSource, oldPV.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(sp.Child("persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(pv.Spec.VolumeMode, oldPV.Spec.VolumeMode, sp.Child("volumeMode"))...)
	if oldPV.Spec.NodeAffinity != nil && !equality.Semantic.DeepEqual(pv.Spec.NodeAffinity, oldPV.Spec.NodeAffinity) {
		errs = append(errs, field.Invalid(sp.Child("nodeAffinity"), pv.Spec.NodeAffinity, apivalidation.FieldImmutableErrorMsg))
	}
	return errs
}

// persistentVolumeClaimStrategy: a claim's spec is fixed once created, but
// for the volume the PV controller binds it to and, when bound, a larger
// storage request.
type persistentVolumeClaimStrategy struct{ apiresource.DefaultStrategy }

func (persistentVolumeClaimStrategy) Default(obj runtime.Object) {
	defaultPersistentVolumeClaimSpec(&obj.(*corev1.PersistentVolumeClaim).Spec)
}

func defaultPersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	}
}

func (persistentVolumeClaimStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
}

func (persistentVolumeClaimStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validatePersistentVolumeClaimSpec(&obj.(*corev1.PersistentVolumeClaim).Spec, field.NewPath("spec"))
}

// validatePersistentVolumeClaimSpec checks a claim's spec, in a claim or in
// a pod's ephemeral volume.
func validatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, p.Child("accessModes"), "at least 1 access mode is required")
	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	storagePath := p.Child("resources", "requests").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else {
		errs = append(errs, validatePositiveQuantity(q, storagePath)...)
	}
	if sc := spec.StorageClassName; sc != nil && *sc != "" {
		errs = append(errs, validateDNSSubdomain(*sc, p.Child("storageClassName"))...)
	}
	errs = append(errs, validateVolumeMode(spec.VolumeMode, p.Child("volumeMode"))...)
	if ds := spec.DataSource; ds != nil {
		errs = append(errs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, p.Child("dataSource"))...)
	}
	if ds := spec.DataSourceRef; ds != nil {
		errs = append(errs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, p.Child("dataSourceRef"))...)
	}
	return errs
}

func validateDataSource(name, kind string, apiGroup *string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	}
	group := ptr.Deref(apiGroup, "")
	if group == "" && kind != "PersistentVolumeClaim" {
		errs = append(errs, field.Invalid(p, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
	}
	if group != "" {
		errs = append(errs, validateDNSSubdomain(group, p.Child("apiGroup"))...)
	}
	return errs
}

func (persistentVolumeClaimStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pvc, oldPVC := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	sp := field.NewPath("spec")
	errs := validatePersistentVolumeClaimSpec(&pvc.Spec, sp)

	newSpec, oldSpec := pvc.Spec.DeepCopy(), oldPVC.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	// A default StorageClass may be filled in later.
	if oldSpec.StorageClassName == nil && newSpec.StorageClassName != nil {
		newSpec.StorageClassName = nil
	}
	if pvc.Status.Phase == corev1.ClaimBound {
		if newSpec.Resources.Requests != nil {
			if q, ok := oldSpec.Resources.Requests[corev1.ResourceStorage]; ok {
				newSpec.Resources.Requests[corev1.ResourceStorage] = q
			}
		}
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		errs = append(errs, field.Forbidden(sp, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	newSize, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], oldPVC.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 {
		errs = append(errs, field.Forbidden(sp.Child("resources", "requests", "storage"), "field can not be less than previous value"))
	}
	return errs
}

func (persistentVolumeClaimStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	var errs field.ErrorList
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "accessModes"), ""))
	}
	for _, name := range sortedKeys(pvc.Status.Capacity) {
		errs = append(errs, validateNonnegativeQuantity(pvc.Status.Capacity[name], field.NewPath("status", "capacity").Key(string(name)))...)
	}
	return errs
}
