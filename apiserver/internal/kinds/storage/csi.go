package storage

import (
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// CSIDrivers: cluster-scoped, one per installed CSI driver, named by it.
func CSIDrivers() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(storagev1.SchemeGroupVersion, "csidrivers", &storagev1.CSIDriver{}, &storagev1.CSIDriverList{})
	d.TracksGeneration = true
	d.Strategy = csiDriverStrategy{}
	d.Table = printers.CSIDriver()
	return d
}

// CSINodes: cluster-scoped, one per node, named by it: the CSI drivers
// registered there. Their status carries the storage health the drivers
// report.
func CSINodes() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(storagev1.SchemeGroupVersion, "csinodes", &storagev1.CSINode{}, &storagev1.CSINodeList{})
	d.Strategy = csiNodeStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.CSINode()
	return d
}

// VolumeAttachments: cluster-scoped requests to attach a volume to a
// node; the attacher reports through status.
func VolumeAttachments() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(storagev1.SchemeGroupVersion, "volumeattachments", &storagev1.VolumeAttachment{}, &storagev1.VolumeAttachmentList{})
	d.Strategy = volumeAttachmentStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.VolumeAttachment()
	return d
}

// CSIStorageCapacities: namespaced, the capacity a driver has for a
// StorageClass in one topology segment, for the scheduler.
func CSIStorageCapacities() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(storagev1.SchemeGroupVersion, "csistoragecapacities", &storagev1.CSIStorageCapacity{}, &storagev1.CSIStorageCapacityList{})
	d.Namespaced = true
	d.Strategy = csiStorageCapacityStrategy{}
	d.Table = printers.CSIStorageCapacity()
	return d
}

// csiDriverStrategy defaults and validates CSIDrivers as Kubernetes'
// storage.k8s.io/v1 API and pkg/apis/storage/validation do, with the
// feature gates of v1.37 at their defaults (SELinuxMount and
// PreventPodSchedulingIfMissing defaulted and required). Whether volumes
// are attached, and for which lifecycles, cannot change: volumes in use
// were set up the old way.
type csiDriverStrategy struct{ apiresource.DefaultStrategy }

func (csiDriverStrategy) Default(obj runtime.Object) {
	spec := &obj.(*storagev1.CSIDriver).Spec
	for _, b := range []struct {
		field **bool
		value bool
	}{
		{&spec.AttachRequired, true}, {&spec.PodInfoOnMount, false}, {&spec.StorageCapacity, false},
		{&spec.RequiresRepublish, false}, {&spec.SELinuxMount, false}, {&spec.PreventPodSchedulingIfMissing, false},
	} {
		if *b.field == nil {
			*b.field = ptr.To(b.value)
		}
	}
	if spec.FSGroupPolicy == nil {
		spec.FSGroupPolicy = ptr.To(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy)
	}
	if len(spec.VolumeLifecycleModes) == 0 {
		spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}
	}
}

func (csiDriverStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateCSIDriverSpec(&obj.(*storagev1.CSIDriver).Spec)
}

func (csiDriverStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	spec, was := &obj.(*storagev1.CSIDriver).Spec, &old.(*storagev1.CSIDriver).Spec
	errs := validateCSIDriverSpec(spec)
	// "attachedRequired" is Kubernetes' spelling of the path.
	errs = append(errs, apivalidation.ValidateImmutableField(spec.AttachRequired, was.AttachRequired, field.NewPath("spec", "attachedRequired"))...)
	return append(errs, apivalidation.ValidateImmutableField(spec.VolumeLifecycleModes, was.VolumeLifecycleModes, field.NewPath("spec", "volumeLifecycleModes"))...)
}

var fsGroupPolicies = sets.New(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy, storagev1.FileFSGroupPolicy, storagev1.NoneFSGroupPolicy)

func validateCSIDriverSpec(spec *storagev1.CSIDriverSpec) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("spec")
	for _, required := range []struct {
		name  string
		value *bool
	}{
		{"attachedRequired", spec.AttachRequired}, {"podInfoOnMount", spec.PodInfoOnMount}, {"storageCapacity", spec.StorageCapacity},
	} {
		if required.value == nil {
			errs = append(errs, field.Required(path.Child(required.name), ""))
		}
	}
	if p := spec.FSGroupPolicy; p != nil && !fsGroupPolicies.Has(*p) {
		errs = append(errs, field.NotSupported(path.Child("fsGroupPolicy"), p, sets.List(fsGroupPolicies)))
	}
	errs = append(errs, validateTokenRequests(spec.TokenRequests, path.Child("tokenRequests"))...)
	for _, mode := range spec.VolumeLifecycleModes {
		if mode != storagev1.VolumeLifecyclePersistent && mode != storagev1.VolumeLifecycleEphemeral {
			errs = append(errs, field.NotSupported(path.Child("volumeLifecycleModes"), mode,
				[]string{string(storagev1.VolumeLifecyclePersistent), string(storagev1.VolumeLifecycleEphemeral)}))
		}
	}
	if spec.SELinuxMount == nil {
		errs = append(errs, field.Required(path.Child("seLinuxMount"), ""))
	}
	if p := spec.NodeAllocatableUpdatePeriodSeconds; p != nil && *p < 10 {
		errs = append(errs, field.Invalid(path.Child("nodeAllocatableUpdatePeriodSeconds"), *p, "must be greater than or equal to 10 seconds"))
	}
	if spec.ServiceAccountTokenInSecrets != nil && len(spec.TokenRequests) == 0 {
		errs = append(errs, field.Invalid(path.Child("serviceAccountTokenInSecrets"), spec.ServiceAccountTokenInSecrets,
			"serviceAccountTokenInSecrets is set but no tokenRequests are specified"))
	}
	if spec.PreventPodSchedulingIfMissing == nil {
		errs = append(errs, field.Required(path.Child("preventPodSchedulingIfMissing"), ""))
	}
	return errs
}

// validateTokenRequests: one token per audience (at most one without),
// each living between ten minutes and 2^32 seconds.
func validateTokenRequests(requests []storagev1.TokenRequest, path *field.Path) field.ErrorList {
	const minSeconds, maxSeconds = 10 * 60, 1 << 32
	var errs field.ErrorList
	audiences := sets.New[string]()
	for i, r := range requests {
		p := path.Index(i)
		if audiences.Has(r.Audience) {
			errs = append(errs, field.Duplicate(p.Child("audience"), r.Audience))
			continue
		}
		audiences.Insert(r.Audience)
		switch s := r.ExpirationSeconds; {
		case s == nil:
		case *s < minSeconds:
			errs = append(errs, field.Invalid(p.Child("expirationSeconds"), *s, "may not specify a duration less than 10 minutes"))
		case *s > maxSeconds:
			errs = append(errs, field.Invalid(p.Child("expirationSeconds"), *s, "may not specify a duration larger than 2^32 seconds"))
		}
	}
	return errs
}

// validateCSIDriverName: a driver's name is a DNS subdomain, of any case,
// up to 63 characters.
func validateCSIDriverName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	if len(name) > 63 {
		errs = append(errs, field.TooLong(path, "", 63))
	}
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(name)) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// csiNodeStrategy is Kubernetes' CSINode strategy: the spec lists the
// node's drivers, which kubelet registers; a registered driver's entry
// changes only in its allocatable count. /status owns storage health.
type csiNodeStrategy struct{ apiresource.DefaultStrategy }

func (csiNodeStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*storagev1.CSINode).Status = storagev1.CSINodeStatus{}
}

func (csiNodeStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateCSINodeDrivers(obj.(*storagev1.CSINode).Spec.Drivers)
}

func (csiNodeStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	drivers, was := obj.(*storagev1.CSINode).Spec.Drivers, old.(*storagev1.CSINode).Spec.Drivers
	errs := validateCSINodeDrivers(drivers)
	for _, o := range was {
		for _, n := range drivers {
			if o.Name != n.Name {
				continue
			}
			oc, nc := o.DeepCopy(), n.DeepCopy()
			oc.Allocatable, nc.Allocatable = nil, nil
			errs = append(errs, apivalidation.ValidateImmutableField(nc, oc, field.NewPath("spec", "drivers"))...)
		}
	}
	return errs
}

func (csiNodeStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("status", "storageHealth")
	seen := sets.New[string]()
	for i, h := range obj.(*storagev1.CSINode).Status.StorageHealth {
		p := path.Index(i)
		if seen.Has(h.Name) {
			errs = append(errs, field.Duplicate(p, h.Name))
		}
		seen.Insert(h.Name)
		errs = append(errs, validateStorageHealth(h, p)...)
	}
	return errs
}

// csiNodeIDMaxLength bounds the id a driver knows the node by.
const csiNodeIDMaxLength = 256

func validateCSINodeDrivers(drivers []storagev1.CSINodeDriver) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("spec", "drivers")
	names := sets.New[string]()
	for i, d := range drivers {
		p := path.Index(i)
		errs = append(errs, validateCSIDriverName(d.Name, p.Child("name"))...)
		if d.NodeID == "" {
			errs = append(errs, field.Required(p.Child("nodeID"), d.NodeID))
		}
		if len(d.NodeID) > csiNodeIDMaxLength {
			errs = append(errs, field.Invalid(p.Child("nodeID"), d.NodeID, fmt.Sprintf("must be %d characters or less", csiNodeIDMaxLength)))
		}
		if a := d.Allocatable; a != nil && a.Count != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*a.Count), p.Child("allocatable", "count"))...)
		}
		if names.Has(d.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), d.Name))
		}
		names.Insert(d.Name)
		keys := sets.New[string]()
		for _, key := range d.TopologyKeys {
			if key == "" {
				errs = append(errs, field.Required(p, key))
			}
			if keys.Has(key) {
				errs = append(errs, field.Duplicate(p, key))
			}
			keys.Insert(key)
			errs = append(errs, metav1validation.ValidateLabelName(key, p)...)
		}
	}
	return errs
}

const maxStorageHealthConditions = 16

var (
	healthStatuses    = sets.New(storagev1.StorageUnreachable, storagev1.StorageDegraded)
	healthAccessModes = sets.New(corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)
)

func validateStorageHealth(h storagev1.StorageHealth, path *field.Path) field.ErrorList {
	errs := validateCSIDriverName(h.Name, path.Child("name"))
	if len(h.HealthConditions) > maxStorageHealthConditions {
		return append(errs, field.TooMany(path.Child("healthConditions"), len(h.HealthConditions), maxStorageHealthConditions))
	}
	for i, c := range h.HealthConditions {
		p := path.Child("healthConditions").Index(i)
		if !healthStatuses.Has(c.Status) {
			errs = append(errs, field.NotSupported(p.Child("status"), c.Status, sets.List(healthStatuses)))
		}
		switch {
		case c.Reason == "":
			errs = append(errs, field.Required(p.Child("reason"), ""))
		case len(c.Reason) > 256:
			errs = append(errs, field.TooLong(p.Child("reason"), c.Reason, 256))
		default:
			for _, msg := range metav1validation.IsValidConditionReason(c.Reason) {
				errs = append(errs, field.Invalid(p.Child("reason"), c.Reason, msg))
			}
		}
		if len(c.Message) > 1024 {
			errs = append(errs, field.TooLong(p.Child("message"), c.Message, 1024))
		}
		if c.AccessMode != nil && !healthAccessModes.Has(*c.AccessMode) {
			errs = append(errs, field.NotSupported(p.Child("accessMode"), *c.AccessMode, sets.List(healthAccessModes)))
		}
		if m := c.VolumeMode; m != nil && *m != corev1.PersistentVolumeFilesystem && *m != corev1.PersistentVolumeBlock {
			errs = append(errs, field.NotSupported(p.Child("volumeMode"), *m, []corev1.PersistentVolumeMode{corev1.PersistentVolumeFilesystem, corev1.PersistentVolumeBlock}))
		}
	}
	return errs
}

// volumeAttachmentStrategy is Kubernetes' VolumeAttachment strategy: the
// spec (which volume, which node, which attacher) is fixed at creation;
// the attacher writes status.
type volumeAttachmentStrategy struct{ apiresource.DefaultStrategy }

func (volumeAttachmentStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*storagev1.VolumeAttachment).Status = storagev1.VolumeAttachmentStatus{}
}

func (volumeAttachmentStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateVolumeAttachment(obj.(*storagev1.VolumeAttachment))
}

func (volumeAttachmentStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	va, was := obj.(*storagev1.VolumeAttachment), old.(*storagev1.VolumeAttachment)
	errs := validateVolumeAttachment(va)
	return append(errs, apivalidation.ValidateImmutableField(va.Spec, was.Spec, field.NewPath("spec"))...)
}

func (volumeAttachmentStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateVolumeAttachment(obj.(*storagev1.VolumeAttachment))
}

const (
	maxAttachmentMetadataSize = 256 * (1 << 10)
	maxVolumeErrorMessageSize = 1024
)

func validateVolumeAttachment(va *storagev1.VolumeAttachment) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateCSIDriverName(va.Spec.Attacher, spec.Child("attacher"))
	src, spath := va.Spec.Source, spec.Child("source")
	switch {
	case src.InlineVolumeSpec == nil && src.PersistentVolumeName == nil:
		errs = append(errs, field.Required(spath, "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.InlineVolumeSpec != nil && src.PersistentVolumeName != nil:
		errs = append(errs, field.Forbidden(spath, "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case src.PersistentVolumeName != nil && *src.PersistentVolumeName == "":
		errs = append(errs, field.Required(spath.Child("persistentVolumeName"), "must specify non empty persistentVolumeName"))
	case src.InlineVolumeSpec != nil && src.InlineVolumeSpec.CSI == nil:
		// Only CSI volumes are attached through VolumeAttachments.
		errs = append(errs, field.Required(spath.Child("inlineVolumeSpec", "csi"), "has to be specified for inline volumes"))
	}
	for _, msg := range apivalidation.NameIsDNSSubdomain(va.Spec.NodeName, false) {
		errs = append(errs, field.Invalid(spec.Child("nodeName"), va.Spec.NodeName, msg))
	}
	status := field.NewPath("status")
	size := 0
	for k, v := range va.Status.AttachmentMetadata {
		size += len(k) + len(v)
	}
	if size > maxAttachmentMetadataSize {
		errs = append(errs, field.TooLong(status.Child("attachmentMetadata"), "", maxAttachmentMetadataSize))
	}
	errs = append(errs, validateVolumeError(va.Status.AttachError, status.Child("attachError"))...)
	errs = append(errs, validateVolumeError(va.Status.DetachError, status.Child("detachError"))...)
	if name := src.PersistentVolumeName; name != nil && *name != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*name, false) {
			errs = append(errs, field.Invalid(spath.Child("persistentVolumeName"), *name, msg))
		}
	}
	return errs
}

func validateVolumeError(e *storagev1.VolumeError, path *field.Path) field.ErrorList {
	if e == nil {
		return nil
	}
	var errs field.ErrorList
	if len(e.Message) > maxVolumeErrorMessageSize {
		errs = append(errs, field.TooLong(path.Child("message"), "", maxVolumeErrorMessageSize))
	}
	if c := e.ErrorCode; c != nil && *c < 0 {
		errs = append(errs, field.Invalid(path.Child("errorCode"), *c, validation.InclusiveRangeError(0, math.MaxInt32)))
	}
	return errs
}

// csiStorageCapacityStrategy is Kubernetes' CSIStorageCapacity strategy:
// the segment and class a capacity was measured for are fixed; the
// capacities themselves are what changes.
type csiStorageCapacityStrategy struct{ apiresource.DefaultStrategy }

func (csiStorageCapacityStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateCSIStorageCapacity(obj.(*storagev1.CSIStorageCapacity), false)
}

// ValidateUpdate tolerates an invalid label value in a selector that
// already had one (older releases let it through).
func (csiStorageCapacityStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	c, was := obj.(*storagev1.CSIStorageCapacity), old.(*storagev1.CSIStorageCapacity)
	strict := metav1validation.LabelSelectorValidationOptions{}
	hadInvalid := len(metav1validation.ValidateLabelSelector(was.NodeTopology, strict, field.NewPath("nodeTopology"))) > 0
	errs := validateCSIStorageCapacity(c, hadInvalid)
	if !apiequality.Semantic.DeepEqual(c.NodeTopology, was.NodeTopology) {
		errs = append(errs, field.Invalid(field.NewPath("nodeTopology"), c.NodeTopology, "field is immutable"))
	}
	if c.StorageClassName != was.StorageClassName {
		errs = append(errs, field.Invalid(field.NewPath("storageClassName"), c.StorageClassName, "field is immutable"))
	}
	return errs
}

func validateCSIStorageCapacity(c *storagev1.CSIStorageCapacity, allowInvalidLabelValue bool) field.ErrorList {
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: allowInvalidLabelValue}
	errs := metav1validation.ValidateLabelSelector(c.NodeTopology, opts, field.NewPath("nodeTopology"))
	for _, msg := range apivalidation.NameIsDNSSubdomain(c.StorageClassName, false) {
		errs = append(errs, field.Invalid(field.NewPath("storageClassName"), c.StorageClassName, msg))
	}
	if c.Capacity != nil && c.Capacity.Sign() < 0 {
		errs = append(errs, field.Invalid(field.NewPath("capacity"), c.Capacity.String(), "must be greater than or equal to 0"))
	}
	return errs
}
