package core

import (
	"fmt"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedReclaim     = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
	// supportedResizeStatuses are the states of a claim's expansion the
	// resizer and the kubelet record in status.allocatedResourceStatuses.
	supportedResizeStatuses = sets.New(corev1.PersistentVolumeClaimControllerResizeInProgress,
		corev1.PersistentVolumeClaimControllerResizeInfeasible,
		corev1.PersistentVolumeClaimNodeResizePending,
		corev1.PersistentVolumeClaimNodeResizeInProgress,
		corev1.PersistentVolumeClaimNodeResizeInfeasible)
)

// mountOptionsAnnotation is the deprecated way of giving a PV mount
// options, before spec.mountOptions.
const mountOptionsAnnotation = "volume.beta.kubernetes.io/mount-options"

// persistentVolumeStrategy: a PV's source and volume mode are fixed at
// creation; the PV controller writes its status, and the store stamps
// the time of each phase change.
type persistentVolumeStrategy struct {
	apiresource.DefaultStrategy
	// now is the clock of status.lastPhaseTransitionTime; nil is
	// time.Now.
	now func() time.Time
}

var _ apiresource.SubresourceStrategy = persistentVolumeStrategy{}

func (s persistentVolumeStrategy) stamp() *metav1.Time {
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	return ptr.To(metav1.NewTime(now()))
}

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

// PrepareForCreate: a new volume is Pending, since now.
func (s persistentVolumeStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: s.stamp()}
}

func (persistentVolumeStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validatePersistentVolume(obj.(*corev1.PersistentVolume), persistentVolumeOptions{})
}

// Warnings are Kubernetes' for PVs: deprecated annotations and the
// deprecated Recycle policy.
func (persistentVolumeStrategy) Warnings(obj runtime.Object) []string {
	pv := obj.(*corev1.PersistentVolume)
	var out []string
	annotations := field.NewPath("metadata", "annotations")
	if _, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		out = append(out, fmt.Sprintf("%s: %s", annotations.Key(corev1.BetaStorageClassAnnotation), `deprecated since v1.8; use "storageClassName" attribute instead`))
	}
	if _, ok := pv.Annotations[mountOptionsAnnotation]; ok {
		out = append(out, fmt.Sprintf("%s: %s", annotations.Key(mountOptionsAnnotation), `deprecated since v1.31; use "mountOptions" attribute instead`))
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		out = append(out, "spec.persistentVolumeReclaimPolicy: The Recycle reclaim policy is deprecated. Instead, the recommended approach is to use dynamic provisioning.")
	}
	return out
}

// persistentVolumeOptions are what an update may keep of an old volume
// that today's rules refuse, as upstream's
// PersistentVolumeSpecValidationOptions.
type persistentVolumeOptions struct {
	// allowInvalidAffinityValues: the old volume's required node
	// affinity already had label values that are not valid.
	allowInvalidAffinityValues bool
}

func validatePersistentVolume(pv *corev1.PersistentVolume, opts persistentVolumeOptions) field.ErrorList {
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
		errs = append(errs, validateBasicResource(spec.Capacity[name], capPath.Key(string(name)))...)
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
			errs = append(errs, validateVolumeNodeSelector(na.Required, opts.allowInvalidAffinityValues, sp.Child("nodeAffinity", "required"))...)
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
			errs = append(errs, validateCSIPersistentVolumeSource(spec.CSI, fp)...)
		}
	}
	if spec.StorageClassName != "" {
		errs = append(errs, validateDNSSubdomain(spec.StorageClassName, sp.Child("storageClassName"))...)
	}
	errs = append(errs, validateVolumeMode(spec.VolumeMode, sp.Child("volumeMode"))...)
	if vac := spec.VolumeAttributesClassName; vac != nil {
		if *vac == "" {
			errs = append(errs, field.Required(sp.Child("volumeAttributesClassName"), "an empty string is disallowed"))
		} else {
			errs = append(errs, validateDNSSubdomain(*vac, sp.Child("volumeAttributesClassName"))...)
		}
		if spec.CSI == nil {
			errs = append(errs, field.Required(sp.Child("csi"), "has to be specified when using volumeAttributesClassName"))
		}
	}
	// Mount options through the old annotation only for the sources that
	// take mount options at all; of Coracle's, NFS.
	if _, ok := pv.Annotations[mountOptionsAnnotation]; ok && !acceptsMountOptions(&spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "annotations", mountOptionsAnnotation), "may not specify mount options for this volume type"))
	}
	return errs
}

// acceptsMountOptions: the volume types whose mounts take options, as
// pkg/volume/validation lists them.
func acceptsMountOptions(src *corev1.PersistentVolumeSource) bool {
	return src.GCEPersistentDisk != nil || src.AWSElasticBlockStore != nil || src.Glusterfs != nil || src.NFS != nil ||
		src.RBD != nil || src.Quobyte != nil || src.ISCSI != nil || src.Cinder != nil || src.CephFS != nil ||
		src.AzureFile != nil || src.VsphereVolume != nil || src.AzureDisk != nil || src.PhotonPersistentDisk != nil
}

// validateVolumeNodeSelector is validateNodeSelector for a volume's
// required node affinity; allowInvalidValues skips the label values' check
// (an update keeping values that were accepted before the check existed),
// which validateNodeSelectorTerm does for preferred terms.
func validateVolumeNodeSelector(ns *corev1.NodeSelector, allowInvalidValues bool, p *field.Path) field.ErrorList {
	if !allowInvalidValues {
		return validateNodeSelector(ns, p)
	}
	terms := p.Child("nodeSelectorTerms")
	if len(ns.NodeSelectorTerms) == 0 {
		return field.ErrorList{field.Required(terms, "must have at least one node selector term")}
	}
	var errs field.ErrorList
	for i, term := range ns.NodeSelectorTerms {
		errs = append(errs, validateNodeSelectorTerm(term, true, terms.Index(i))...)
	}
	return errs
}

// hasInvalidAffinityValues reports whether a volume's required node
// affinity has a label value that is not valid.
func hasInvalidAffinityValues(na *corev1.VolumeNodeAffinity) bool {
	if na == nil || na.Required == nil {
		return false
	}
	for _, term := range na.Required.NodeSelectorTerms {
		for _, req := range term.MatchExpressions {
			for _, v := range req.Values {
				if len(validation.IsValidLabelValue(v)) > 0 {
					return true
				}
			}
		}
	}
	return false
}

func validateCSIPersistentVolumeSource(csi *corev1.CSIPersistentVolumeSource, p *field.Path) field.ErrorList {
	errs := validateCSIDriverName(csi.Driver, p.Child("driver"))
	if csi.VolumeHandle == "" {
		errs = append(errs, field.Required(p.Child("volumeHandle"), ""))
	}
	for _, ref := range []struct {
		name string
		ref  *corev1.SecretReference
	}{
		{"controllerPublishSecretRef", csi.ControllerPublishSecretRef},
		{"controllerExpandSecretRef", csi.ControllerExpandSecretRef},
		{"nodePublishSecretRef", csi.NodePublishSecretRef},
		{"nodeExpandSecretRef", csi.NodeExpandSecretRef},
	} {
		if ref.ref != nil {
			errs = append(errs, validateSecretReference(ref.ref, p.Child(ref.name))...)
		}
	}
	return errs
}

// validateCSIDriverName: a DNS subdomain of at most 63 characters, in any
// case.
func validateCSIDriverName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if len(name) > 63 {
		errs = append(errs, field.TooLong(p, "", 63))
	}
	return append(errs, invalids(p, name, validation.IsDNS1123Subdomain(strings.ToLower(name)))...)
}

func validateSecretReference(ref *corev1.SecretReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, validateDNSSubdomain(ref.Name, p.Child("name"))...)
	}
	if ref.Namespace == "" {
		errs = append(errs, field.Required(p.Child("namespace"), ""))
	} else {
		errs = append(errs, validateDNSLabel(ref.Namespace, p.Child("namespace"))...)
	}
	return errs
}

// validateBasicResource refuses a quantity whose integer value is
// negative, with Kubernetes' message.
func validateBasicResource(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Value() < 0 {
		return field.ErrorList{field.Invalid(p, q.Value(), "must be a valid resource quantity")}
	}
	return nil
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
// are fixed, as upstream's ValidatePersistentVolumeUpdate has them (its
// field paths included: "volumeMode" and "nodeAffinity" without "spec");
// capacity, class, claimRef and reclaim policy may change.
func (persistentVolumeStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	errs := validatePersistentVolume(pv, persistentVolumeOptions{allowInvalidAffinityValues: hasInvalidAffinityValues(oldPV.Spec.NodeAffinity)})
	newSource := pv.Spec.PersistentVolumeSource
	// A CSI volume may gain the secret for expanding it.
	if oldPV.Spec.CSI != nil && oldPV.Spec.CSI.ControllerExpandSecretRef == nil && newSource.CSI != nil {
		newSource = *newSource.DeepCopy()
		newSource.CSI.ControllerExpandSecretRef = nil
	}
	if !equality.Semantic.DeepEqual(newSource, oldPV.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"),
			"spec.persistentvolumesource is immutable after creation\n"+diff.Diff(oldPV.Spec.PersistentVolumeSource, newSource)))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(pv.Spec.VolumeMode, oldPV.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	if oldPV.Spec.NodeAffinity != nil && !nodeAffinityEqual.DeepEqual(pv.Spec.NodeAffinity, oldPV.Spec.NodeAffinity) {
		errs = append(errs, field.Invalid(field.NewPath("nodeAffinity"), pv.Spec.NodeAffinity, apivalidation.FieldImmutableErrorMsg+", except for updating from beta label to GA"))
	}
	if oldPV.Spec.VolumeAttributesClassName != nil && pv.Spec.VolumeAttributesClassName == nil {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to nil is forbidden"))
	}
	return errs
}

// betaToGALabel are the node labels whose beta key a volume's node
// affinity may trade for the GA one.
var betaToGALabel = map[string]string{
	corev1.LabelFailureDomainBetaZone:   corev1.LabelTopologyZone,
	corev1.LabelFailureDomainBetaRegion: corev1.LabelTopologyRegion,
	"beta.kubernetes.io/os":             corev1.LabelOSStable,
	"beta.kubernetes.io/arch":           corev1.LabelArchStable,
	corev1.LabelInstanceType:            corev1.LabelInstanceTypeStable,
}

// nodeAffinityEqual compares node affinities, a requirement's beta label
// key equal to its GA one.
var nodeAffinityEqual = func() conversion.Equalities {
	eqs := equality.Semantic.Copy()
	if err := eqs.AddFunc(func(newReq, oldReq corev1.NodeSelectorRequirement) bool {
		if oldReq.Key != newReq.Key && betaToGALabel[oldReq.Key] == newReq.Key {
			oldReq.Key = newReq.Key
		}
		return equality.Semantic.DeepEqual(newReq, oldReq)
	}); err != nil {
		panic(err) // only for a function of the wrong shape
	}
	return eqs
}()

// PrepareForSubresourceUpdate: a status write keeps the spec (the store
// did) and stamps status.lastPhaseTransitionTime when the phase changes
// and the writer did not set a new time, as Kubernetes' PV status
// strategy does.
func (s persistentVolumeStrategy) PrepareForSubresourceUpdate(_ string, obj, old runtime.Object) {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	switch {
	case oldPV.Status.Phase == pv.Status.Phase && pv.Status.LastPhaseTransitionTime == nil:
		pv.Status.LastPhaseTransitionTime = oldPV.Status.LastPhaseTransitionTime
	case oldPV.Status.Phase != pv.Status.Phase &&
		(pv.Status.LastPhaseTransitionTime == nil || pv.Status.LastPhaseTransitionTime.Equal(oldPV.Status.LastPhaseTransitionTime)):
		pv.Status.LastPhaseTransitionTime = s.stamp()
	}
}

// ValidateSubresourceUpdate: a PV's status has no rules of its own beyond
// the metadata's, which the store checks.
func (persistentVolumeStrategy) ValidateSubresourceUpdate(string, runtime.Object, runtime.Object) field.ErrorList {
	return nil
}

// persistentVolumeClaimStrategy: a claim's spec is fixed once created, but
// for the volume the PV controller binds it to, a class for a claim that
// had none and, when bound, the storage request and the volume attributes
// class.
type persistentVolumeClaimStrategy struct{ apiresource.DefaultStrategy }

func (persistentVolumeClaimStrategy) Default(obj runtime.Object) {
	defaultPersistentVolumeClaimSpec(&obj.(*corev1.PersistentVolumeClaim).Spec)
}

func defaultPersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
	}
}

// PrepareForCreate: a new claim is Pending; its data source is given in
// both fields, as Kubernetes keeps dataSource and dataSourceRef alike.
func (persistentVolumeClaimStrategy) PrepareForCreate(obj runtime.Object) {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	enforceDataSourceBackwardsCompatibility(&pvc.Spec, nil)
	normalizeDataSources(&pvc.Spec)
}

// PrepareForUpdate does what PrepareForCreate does, for clients that
// send back a claim without the dataSourceRef the server filled in; the
// store keeps the status.
func (persistentVolumeClaimStrategy) PrepareForUpdate(obj, old runtime.Object) {
	pvc, oldPVC := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	enforceDataSourceBackwardsCompatibility(&pvc.Spec, &oldPVC.Spec)
	normalizeDataSources(&pvc.Spec)
}

// enforceDataSourceBackwardsCompatibility drops a dataSource other than a
// claim or a VolumeSnapshot when no dataSourceRef says the client knows
// better, as Kubernetes has always silently ignored those.
func enforceDataSourceBackwardsCompatibility(spec, oldSpec *corev1.PersistentVolumeClaimSpec) {
	if oldSpec != nil && (oldSpec.DataSource != nil || oldSpec.DataSourceRef != nil) {
		return
	}
	if spec.DataSourceRef != nil || spec.DataSource == nil {
		return
	}
	group, kind := ptr.Deref(spec.DataSource.APIGroup, ""), spec.DataSource.Kind
	if (group == "" && kind == "PersistentVolumeClaim") || (group == "snapshot.storage.k8s.io" && kind == "VolumeSnapshot") {
		return
	}
	spec.DataSource = nil
}

// normalizeDataSources fills whichever of dataSource and dataSourceRef is
// unset from the other (a dataSourceRef to another namespace has no
// dataSource form).
func normalizeDataSources(spec *corev1.PersistentVolumeClaimSpec) {
	switch ds, ref := spec.DataSource, spec.DataSourceRef; {
	case ds != nil && ref == nil:
		spec.DataSourceRef = &corev1.TypedObjectReference{APIGroup: copyString(ds.APIGroup), Kind: ds.Kind, Name: ds.Name}
	case ref != nil && ds == nil && ptr.Deref(ref.Namespace, "") == "":
		spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: copyString(ref.APIGroup), Kind: ref.Kind, Name: ref.Name}
	}
}

func copyString(s *string) *string {
	if s == nil {
		return nil
	}
	return ptr.To(*s)
}

func (persistentVolumeClaimStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validatePersistentVolumeClaimSpec(&obj.(*corev1.PersistentVolumeClaim).Spec, field.NewPath("spec"), claimOptions{})
}

// Warnings are Kubernetes' for claims: the deprecated class annotation and
// fractional byte sizes.
func (persistentVolumeClaimStrategy) Warnings(obj runtime.Object) []string {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	var out []string
	if _, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		out = append(out, fmt.Sprintf("%s: %s", field.NewPath("metadata", "annotations").Key(corev1.BetaStorageClassAnnotation),
			`deprecated since v1.8; use "storageClassName" attribute instead`))
	}
	return append(out, claimSpecWarnings(&pvc.Spec, field.NewPath("spec"))...)
}

// claimSpecWarnings: a storage request or limit that is not a whole
// number of bytes.
func claimSpecWarnings(spec *corev1.PersistentVolumeClaimSpec, p *field.Path) []string {
	var out []string
	for _, r := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", spec.Resources.Requests}, {"limits", spec.Resources.Limits}} {
		if q, ok := r.list[corev1.ResourceStorage]; ok && q.MilliValue()%1000 != 0 {
			out = append(out, fmt.Sprintf("%s: fractional byte value %q is invalid, must be an integer",
				p.Child("resources", r.name).Key(string(corev1.ResourceStorage)), q.String()))
		}
	}
	return out
}

// claimOptions are what an update may keep of an old claim that today's
// rules refuse, as upstream's PersistentVolumeClaimSpecValidationOptions
// (expansion recovery and volume attributes classes are GA: always on).
type claimOptions struct {
	// allowInvalidLabelValueInSelector: the old selector was not valid.
	allowInvalidLabelValueInSelector bool
	// allowInvalidAPIGroupInDataSource: the old claim's data source named
	// an API group, checked less strictly before.
	allowInvalidAPIGroupInDataSource bool
}

func claimOptionsFor(old *corev1.PersistentVolumeClaim) claimOptions {
	return claimOptions{
		allowInvalidLabelValueInSelector: len(metav1validation.ValidateLabelSelector(old.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, nil)) > 0,
		allowInvalidAPIGroupInDataSource: (old.Spec.DataSource != nil && old.Spec.DataSource.APIGroup != nil) ||
			(old.Spec.DataSourceRef != nil && old.Spec.DataSourceRef.APIGroup != nil),
	}
}

// validatePersistentVolumeClaimSpec checks a claim's spec, in a claim or in
// a pod's ephemeral volume, with upstream's field paths (the storage
// request is "resources[storage]").
func validatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, p *field.Path, opts claimOptions) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, p.Child("accessModes"), "at least 1 access mode is required")
	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector,
			metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: opts.allowInvalidLabelValueInSelector}, p.Child("selector"))...)
	}
	storagePath := p.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if qErrs := validatePositiveQuantity(q, storagePath); len(qErrs) > 0 {
		errs = append(errs, qErrs...)
	} else {
		errs = append(errs, validateNonnegativeQuantity(q, storagePath)...)
	}
	if sc := spec.StorageClassName; sc != nil && *sc != "" {
		errs = append(errs, validateDNSSubdomain(*sc, p.Child("storageClassName"))...)
	}
	errs = append(errs, validateVolumeMode(spec.VolumeMode, p.Child("volumeMode"))...)
	if ds := spec.DataSource; ds != nil {
		errs = append(errs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, opts.allowInvalidAPIGroupInDataSource, p.Child("dataSource"))...)
	}
	if ref := spec.DataSourceRef; ref != nil {
		rp := p.Child("dataSourceRef")
		errs = append(errs, validateDataSource(ref.Name, ref.Kind, ref.APIGroup, opts.allowInvalidAPIGroupInDataSource, rp)...)
		if ns := ptr.Deref(ref.Namespace, ""); ns != "" {
			errs = append(errs, validateDNSLabel(ns, rp.Child("namespace"))...)
		}
	}
	switch ds, ref := spec.DataSource, spec.DataSourceRef; {
	case ref != nil && ptr.Deref(ref.Namespace, "") != "":
		if ds != nil {
			errs = append(errs, field.Invalid(p, p.Child("dataSource"), "may not be specified when dataSourceRef.namespace is specified"))
		}
	case ds != nil && ref != nil:
		if !ptr.Equal(ds.APIGroup, ref.APIGroup) || ds.Kind != ref.Kind || ds.Name != ref.Name {
			errs = append(errs, field.Invalid(p, p.Child("dataSource"), "must match dataSourceRef"))
		}
	}
	if vac := spec.VolumeAttributesClassName; vac != nil && *vac != "" {
		errs = append(errs, validateDNSSubdomain(*vac, p.Child("volumeAttributesClassName"))...)
	}
	return errs
}

func validateDataSource(name, kind string, apiGroup *string, allowInvalidGroup bool, p *field.Path) field.ErrorList {
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
	if group != "" && !allowInvalidGroup {
		errs = append(errs, validateDNSSubdomain(group, p.Child("apiGroup"))...)
	}
	return errs
}

// ValidateUpdate is upstream's ValidatePersistentVolumeClaimUpdate: the
// spec is immutable but for a first volumeName, a storageClassName for a
// claim that had none (from its beta annotation, or the default class the
// PV controller gives it later) and, for a bound claim, the storage
// request and the volume attributes class. The request may come down
// (to undo a failed expansion) but stay above status.capacity: volumes
// never shrink.
func (persistentVolumeClaimStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pvc, oldPVC := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	sp := field.NewPath("spec")
	errs := validatePersistentVolumeClaimSpec(&pvc.Spec, sp, claimOptionsFor(oldPVC))

	newSpec, oldSpec := pvc.Spec.DeepCopy(), oldPVC.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	oldBeta, oldHasBeta := oldPVC.Annotations[corev1.BetaStorageClassAnnotation]
	newBeta, newHasBeta := pvc.Annotations[corev1.BetaStorageClassAnnotation]
	switch {
	case oldHasBeta && oldSpec.StorageClassName == nil && newSpec.StorageClassName != nil &&
		*newSpec.StorageClassName == oldBeta && (!newHasBeta || newBeta == oldBeta):
		// The class moves from the beta annotation to the field.
		newSpec.StorageClassName = nil
	default:
		if newBeta != oldBeta {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations", corev1.BetaStorageClassAnnotation), newBeta, apivalidation.FieldImmutableErrorMsg))
		}
		if newSpec.StorageClassName != nil && oldSpec.StorageClassName == nil && (!oldHasBeta || *newSpec.StorageClassName == oldBeta) {
			newSpec.StorageClassName = oldSpec.StorageClassName
		}
	}
	if pvc.Status.Phase == corev1.ClaimBound {
		if newSpec.Resources.Requests != nil {
			newSpec.Resources.Requests[corev1.ResourceStorage] = oldPVC.Spec.Resources.Requests[corev1.ResourceStorage]
		}
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		errs = append(errs, field.Forbidden(sp, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"+diff.Diff(oldSpec, newSpec)))
	}
	newSize, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], oldPVC.Spec.Resources.Requests[corev1.ResourceStorage]
	statusSize := oldPVC.Status.Capacity[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 && newSize.Cmp(statusSize) <= 0 {
		errs = append(errs, field.Forbidden(sp.Child("resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(pvc.Spec.VolumeMode, oldPVC.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	// A volume attributes class once applied may change but not go away.
	if oldPVC.Status.CurrentVolumeAttributesClassName != nil && !ptr.Equal(pvc.Spec.VolumeAttributesClassName, oldPVC.Spec.VolumeAttributesClassName) {
		switch vac := pvc.Spec.VolumeAttributesClassName; {
		case vac == nil:
			errs = append(errs, field.Forbidden(sp.Child("volumeAttributesClassName"), "update to nil is forbidden when status.currentVolumeAttributesClassName is not nil"))
		case *vac == "":
			errs = append(errs, field.Forbidden(sp.Child("volumeAttributesClassName"), "update to empty string is forbidden when status.currentVolumeAttributesClassName is not nil"))
		}
	}
	return errs
}

// ValidateStatusUpdate is upstream's
// ValidatePersistentVolumeClaimStatusUpdate, its field paths included
// ("Spec.accessModes").
func (persistentVolumeClaimStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	var errs field.ErrorList
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(field.NewPath("Spec", "accessModes"), ""))
	}
	capPath := field.NewPath("status", "capacity")
	for _, name := range sortedKeys(pvc.Status.Capacity) {
		errs = append(errs, validateBasicResource(pvc.Status.Capacity[name], capPath.Key(string(name)))...)
	}
	if hs := pvc.Status.HealthStatus; hs != nil {
		hp := field.NewPath("status", "healthStatus", "healthConditions")
		for i, c := range hs.HealthConditions {
			if c.Reason != "" {
				errs = append(errs, invalids(hp.Index(i).Child("reason"), c.Reason, metav1validation.IsValidConditionReason(c.Reason))...)
			}
		}
	}
	statusesPath := field.NewPath("status", "allocatedResourceStatuses")
	for _, name := range sortedKeys(pvc.Status.AllocatedResourceStatuses) {
		if keyErrs := validateClaimResourceKey(string(name), statusesPath); len(keyErrs) > 0 {
			errs = append(errs, keyErrs...)
		}
		if !supportedResizeStatuses.Has(pvc.Status.AllocatedResourceStatuses[name]) {
			errs = append(errs, field.NotSupported(statusesPath, name, sets.List(supportedResizeStatuses)))
		}
	}
	allocPath := field.NewPath("status", "allocatedResources")
	for _, name := range sortedKeys(pvc.Status.AllocatedResources) {
		if keyErrs := validateClaimResourceKey(string(name), allocPath); len(keyErrs) > 0 {
			errs = append(errs, keyErrs...)
			continue
		}
		q := pvc.Status.AllocatedResources[name]
		if qErrs := validateBasicResource(q, allocPath.Key(string(name))); len(qErrs) > 0 {
			errs = append(errs, qErrs...)
		} else {
			errs = append(errs, validateNonnegativeQuantity(q, allocPath.Key(string(name)))...)
		}
	}
	return errs
}

// validateClaimResourceKey: a qualified name, and of Kubernetes' own
// resources only storage.
func validateClaimResourceKey(name string, p *field.Path) field.ErrorList {
	if errs := invalids(p, name, validation.IsQualifiedName(name)); len(errs) > 0 {
		return errs
	}
	if isNativeResource(corev1.ResourceName(name)) && corev1.ResourceName(name) != corev1.ResourceStorage {
		return field.ErrorList{field.NotSupported(p, name, []corev1.ResourceName{corev1.ResourceStorage})}
	}
	return nil
}
