package resource

import (
	"fmt"
	"strings"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// Limits of Kubernetes' resource.k8s.io API.
const (
	driverNameMaxLength     = 63
	maxDevicesPerSlice      = 128
	maxRequests             = 32
	maxSelectors            = 32
	maxConfigs              = 32
	maxCELExpressionLength  = 10 * 1024
	maxReservedFor          = 256
	maxAllocationResults    = 32
	poolNameMaxLength       = validation.DNS1123SubdomainMaxLength
	opaqueParametersMaxSize = 10 * 1024
)

// deviceClassStrategy: a class is selectors and configuration; both may
// change (the generation counts it).
type deviceClassStrategy struct{ apiresource.DefaultStrategy }

func (deviceClassStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateDeviceClassSpec(&obj.(*resourcev1.DeviceClass).Spec)
}

func (deviceClassStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateDeviceClassSpec(&obj.(*resourcev1.DeviceClass).Spec)
}

func validateDeviceClassSpec(spec *resourcev1.DeviceClassSpec) field.ErrorList {
	path := field.NewPath("spec")
	errs := validateSelectors(spec.Selectors, path.Child("selectors"))
	if len(spec.Config) > maxConfigs {
		errs = append(errs, field.TooMany(path.Child("config"), len(spec.Config), maxConfigs))
	}
	for i, c := range spec.Config {
		errs = append(errs, validateOpaque(c.Opaque, path.Child("config").Index(i).Child("opaque"))...)
	}
	if spec.ExtendedResourceName != nil {
		for _, msg := range validation.IsQualifiedName(*spec.ExtendedResourceName) {
			errs = append(errs, field.Invalid(path.Child("extendedResourceName"), *spec.ExtendedResourceName, msg))
		}
	}
	return errs
}

// validateSelectors wants a CEL expression in every selector. The
// expressions are not compiled here: Coracle allocates no devices, and a
// driver's scheduler would refuse what does not compile.
func validateSelectors(selectors []resourcev1.DeviceSelector, path *field.Path) field.ErrorList {
	if len(selectors) > maxSelectors {
		return field.ErrorList{field.TooMany(path, len(selectors), maxSelectors)}
	}
	var errs field.ErrorList
	for i, s := range selectors {
		p := path.Index(i)
		switch {
		case s.CEL == nil:
			errs = append(errs, field.Required(p.Child("cel"), ""))
		case s.CEL.Expression == "":
			errs = append(errs, field.Required(p.Child("cel", "expression"), ""))
		case len(s.CEL.Expression) > maxCELExpressionLength:
			errs = append(errs, field.TooLong(p.Child("cel", "expression"), "", maxCELExpressionLength))
		}
	}
	return errs
}

func validateOpaque(o *resourcev1.OpaqueDeviceConfiguration, path *field.Path) field.ErrorList {
	if o == nil {
		return field.ErrorList{field.Required(path, "")}
	}
	errs := validateDriverName(o.Driver, path.Child("driver"))
	switch raw := o.Parameters.Raw; {
	case len(raw) == 0:
		errs = append(errs, field.Required(path.Child("parameters"), ""))
	case len(raw) > opaqueParametersMaxSize:
		errs = append(errs, field.TooLong(path.Child("parameters"), "", opaqueParametersMaxSize))
	}
	return errs
}

// validateDriverName: a driver is named like a CSI driver, a DNS
// subdomain of any case up to 63 characters.
func validateDriverName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	if len(name) > driverNameMaxLength {
		errs = append(errs, field.TooLong(path, "", driverNameMaxLength))
	}
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(name)) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

func dnsLabel(value string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

// defaultClaimSpec: an exact request asks for one device unless it says
// otherwise.
func defaultClaimSpec(spec *resourcev1.ResourceClaimSpec) {
	for i := range spec.Devices.Requests {
		r := &spec.Devices.Requests[i]
		if e := r.Exactly; e != nil {
			defaultCount(&e.AllocationMode, &e.Count)
		}
		for j := range r.FirstAvailable {
			defaultCount(&r.FirstAvailable[j].AllocationMode, &r.FirstAvailable[j].Count)
		}
	}
}

func defaultCount(mode *resourcev1.DeviceAllocationMode, count *int64) {
	if *mode == "" {
		*mode = resourcev1.DeviceAllocationModeExactCount
	}
	if *mode == resourcev1.DeviceAllocationModeExactCount && *count == 0 {
		*count = 1
	}
}

var allocationModes = sets.New(resourcev1.DeviceAllocationModeExactCount, resourcev1.DeviceAllocationModeAll)

// validateClaimSpec checks the requests of a claim: named by unique DNS
// labels, each either exactly one kind of device (a class, a count) or a
// list of alternatives to try in order.
func validateClaimSpec(spec *resourcev1.ResourceClaimSpec, path *field.Path) field.ErrorList {
	dpath := path.Child("devices")
	rpath := dpath.Child("requests")
	var errs field.ErrorList
	if len(spec.Devices.Requests) > maxRequests {
		errs = append(errs, field.TooMany(rpath, len(spec.Devices.Requests), maxRequests))
	}
	names := sets.New[string]()
	for i, r := range spec.Devices.Requests {
		p := rpath.Index(i)
		errs = append(errs, dnsLabel(r.Name, p.Child("name"))...)
		if names.Has(r.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), r.Name))
		}
		names.Insert(r.Name)
		switch {
		case r.Exactly != nil && len(r.FirstAvailable) > 0:
			errs = append(errs, field.Invalid(p, nil, "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"))
		case r.Exactly != nil:
			e := r.Exactly
			errs = append(errs, validateExact(e.DeviceClassName, e.Selectors, e.AllocationMode, e.Count, p.Child("exactly"))...)
		case len(r.FirstAvailable) > 0:
			subs := sets.New[string]()
			for j, s := range r.FirstAvailable {
				sp := p.Child("firstAvailable").Index(j)
				errs = append(errs, dnsLabel(s.Name, sp.Child("name"))...)
				if subs.Has(s.Name) {
					errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
				}
				subs.Insert(s.Name)
				errs = append(errs, validateExact(s.DeviceClassName, s.Selectors, s.AllocationMode, s.Count, sp)...)
			}
		default:
			errs = append(errs, field.Required(p, "exactly one of `exactly` or `firstAvailable` is required"))
		}
	}
	for i, c := range spec.Devices.Config {
		p := dpath.Child("config").Index(i)
		errs = append(errs, validateOpaque(c.Opaque, p.Child("opaque"))...)
		for j, name := range c.Requests {
			if !names.Has(strings.SplitN(name, "/", 2)[0]) {
				errs = append(errs, field.Invalid(p.Child("requests").Index(j), name,
					"must be the name of a request in the claim or the name of a request and a subrequest separated by '/'"))
			}
		}
	}
	return errs
}

func validateExact(class string, selectors []resourcev1.DeviceSelector, mode resourcev1.DeviceAllocationMode, count int64, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if class == "" {
		errs = append(errs, field.Required(path.Child("deviceClassName"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(class) {
			errs = append(errs, field.Invalid(path.Child("deviceClassName"), class, msg))
		}
	}
	errs = append(errs, validateSelectors(selectors, path.Child("selectors"))...)
	switch {
	case !allocationModes.Has(mode):
		errs = append(errs, field.NotSupported(path.Child("allocationMode"), mode, sets.List(allocationModes)))
	case mode == resourcev1.DeviceAllocationModeExactCount && count <= 0:
		errs = append(errs, field.Invalid(path.Child("count"), count, "must be greater than zero"))
	case mode == resourcev1.DeviceAllocationModeAll && count != 0:
		errs = append(errs, field.Invalid(path.Child("count"), count, "must not be specified when allocationMode is 'All'"))
	}
	return errs
}

// resourceClaimStrategy is Kubernetes' ResourceClaim strategy: the spec
// is fixed at creation; status (the allocation, who has it reserved) is
// written through /status, and an allocation is never swapped for
// another, only removed.
type resourceClaimStrategy struct{ apiresource.DefaultStrategy }

func (resourceClaimStrategy) Default(obj runtime.Object) {
	defaultClaimSpec(&obj.(*resourcev1.ResourceClaim).Spec)
}

func (resourceClaimStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*resourcev1.ResourceClaim).Status = resourcev1.ResourceClaimStatus{}
}

func (resourceClaimStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateClaimSpec(&obj.(*resourcev1.ResourceClaim).Spec, field.NewPath("spec"))
}

func (resourceClaimStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	c, was := obj.(*resourcev1.ResourceClaim), old.(*resourcev1.ResourceClaim)
	return apivalidation.ValidateImmutableField(c.Spec, was.Spec, field.NewPath("spec"))
}

func (resourceClaimStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	c, was := obj.(*resourcev1.ResourceClaim), old.(*resourcev1.ResourceClaim)
	st, path := &c.Status, field.NewPath("status")
	var errs field.ErrorList
	rpath := path.Child("reservedFor")
	if len(st.ReservedFor) > maxReservedFor {
		errs = append(errs, field.TooMany(rpath, len(st.ReservedFor), maxReservedFor))
	}
	uids := sets.New[string]()
	for i, r := range st.ReservedFor {
		p := rpath.Index(i)
		if r.Resource == "" {
			errs = append(errs, field.Required(p.Child("resource"), ""))
		}
		if r.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if r.UID == "" {
			errs = append(errs, field.Required(p.Child("uid"), ""))
		} else if uids.Has(string(r.UID)) {
			errs = append(errs, field.Duplicate(p, r))
		}
		uids.Insert(string(r.UID))
	}
	if len(st.ReservedFor) > 0 && st.Allocation == nil {
		errs = append(errs, field.Forbidden(rpath, "may not be specified when `allocated` is not set"))
	}
	if was.Status.Allocation != nil && st.Allocation != nil && !apiequality.Semantic.DeepEqual(st.Allocation, was.Status.Allocation) {
		errs = append(errs, field.Invalid(path.Child("allocation"), st.Allocation, apivalidation.FieldImmutableErrorMsg))
	}
	if was.Status.Allocation != nil && st.Allocation == nil && len(was.Status.ReservedFor) > 0 {
		errs = append(errs, field.Forbidden(path.Child("allocation"), "may not be removed while the claim is reserved"))
	}
	if st.Allocation != nil {
		if n := len(st.Allocation.Devices.Results); n > maxAllocationResults {
			errs = append(errs, field.TooMany(path.Child("allocation", "devices", "results"), n, maxAllocationResults))
		}
		for i, r := range st.Allocation.Devices.Results {
			p := path.Child("allocation", "devices", "results").Index(i)
			errs = append(errs, validateDriverName(r.Driver, p.Child("driver"))...)
			errs = append(errs, validatePoolName(r.Pool, p.Child("pool"))...)
			errs = append(errs, dnsLabel(r.Device, p.Child("device"))...)
		}
	}
	return errs
}

// resourceClaimTemplateStrategy: the claim a template stamps out is
// fixed once the template exists, as Kubernetes keeps it.
type resourceClaimTemplateStrategy struct{ apiresource.DefaultStrategy }

func (resourceClaimTemplateStrategy) Default(obj runtime.Object) {
	defaultClaimSpec(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec)
}

func (resourceClaimTemplateStrategy) Validate(obj runtime.Object) field.ErrorList {
	t := obj.(*resourcev1.ResourceClaimTemplate)
	errs := metav1validation.ValidateLabels(t.Spec.Labels, field.NewPath("spec", "metadata", "labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Spec.Annotations, field.NewPath("spec", "metadata", "annotations"))...)
	return append(errs, validateClaimSpec(&t.Spec.Spec, field.NewPath("spec", "spec"))...)
}

func (resourceClaimTemplateStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	t, was := obj.(*resourcev1.ResourceClaimTemplate), old.(*resourcev1.ResourceClaimTemplate)
	return apivalidation.ValidateImmutableField(t.Spec, was.Spec, field.NewPath("spec"))
}

// resourceSliceStrategy: a slice is one driver's devices in one pool,
// for one node, a node selector, all nodes, or per device; the driver,
// pool and node are fixed, the devices change.
type resourceSliceStrategy struct{ apiresource.DefaultStrategy }

func (resourceSliceStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateSliceSpec(&obj.(*resourcev1.ResourceSlice).Spec)
}

func (resourceSliceStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	spec, was := &obj.(*resourcev1.ResourceSlice).Spec, &old.(*resourcev1.ResourceSlice).Spec
	path := field.NewPath("spec")
	errs := validateSliceSpec(spec)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.Pool.Name, was.Pool.Name, path.Child("pool", "name"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.Driver, was.Driver, path.Child("driver"))...)
	return append(errs, apivalidation.ValidateImmutableField(spec.NodeName, was.NodeName, path.Child("nodeName"))...)
}

func validatePoolName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	if len(name) > poolNameMaxLength {
		errs = append(errs, field.TooLong(path, "", poolNameMaxLength))
	}
	for _, part := range strings.Split(name, "/") {
		for _, msg := range validation.IsDNS1123Subdomain(part) {
			errs = append(errs, field.Invalid(path, part, msg))
		}
	}
	return errs
}

func validateSliceSpec(spec *resourcev1.ResourceSliceSpec) field.ErrorList {
	path := field.NewPath("spec")
	errs := validateDriverName(spec.Driver, path.Child("driver"))
	errs = append(errs, validatePoolName(spec.Pool.Name, path.Child("pool", "name"))...)
	if spec.Pool.ResourceSliceCount <= 0 {
		errs = append(errs, field.Invalid(path.Child("pool", "resourceSliceCount"), spec.Pool.ResourceSliceCount, "must be greater than zero"))
	}
	if spec.Pool.Generation < 0 {
		errs = append(errs, field.Invalid(path.Child("pool", "generation"), spec.Pool.Generation, "must be greater than or equal to zero"))
	}
	var set []string
	if n := spec.NodeName; n != nil {
		if *n == "" {
			errs = append(errs, field.Invalid(path.Child("nodeName"), *n, "must be either unset or set to a non-empty string"))
		} else {
			set = append(set, "`nodeName`")
			for _, msg := range apivalidation.NameIsDNSSubdomain(*n, false) {
				errs = append(errs, field.Invalid(path.Child("nodeName"), *n, msg))
			}
		}
	}
	if s := spec.NodeSelector; s != nil {
		set = append(set, "`nodeSelector`")
		if len(s.NodeSelectorTerms) != 1 {
			errs = append(errs, field.Invalid(path.Child("nodeSelector", "nodeSelectorTerms"), s.NodeSelectorTerms, "must have exactly one node selector term"))
		}
	}
	for _, flag := range []struct {
		name  string
		value *bool
	}{{"allNodes", spec.AllNodes}, {"perDeviceNodeSelection", spec.PerDeviceNodeSelection}} {
		switch {
		case flag.value == nil:
		case *flag.value:
			set = append(set, "`"+flag.name+"`")
		default:
			errs = append(errs, field.Invalid(path.Child(flag.name), *flag.value, "must be either unset or set to true"))
		}
	}
	switch len(set) {
	case 0:
		errs = append(errs, field.Required(path, "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"))
	case 1:
	default:
		errs = append(errs, field.Invalid(path, fmt.Sprintf("{%s}", strings.Join(set, ", ")),
			"exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple fields are set"))
	}
	if spec.SharedCounters != nil && spec.Devices != nil {
		errs = append(errs, field.Invalid(path, "", "only one of `sharedCounters` or `devices` is allowed"))
	}
	dpath := path.Child("devices")
	if len(spec.Devices) > maxDevicesPerSlice {
		errs = append(errs, field.TooMany(dpath, len(spec.Devices), maxDevicesPerSlice))
	}
	names := sets.New[string]()
	for i, d := range spec.Devices {
		p := dpath.Index(i)
		errs = append(errs, dnsLabel(d.Name, p.Child("name"))...)
		if names.Has(d.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), d.Name))
		}
		names.Insert(d.Name)
	}
	return errs
}

// deviceTaintRuleStrategy: a rule taints the devices its selector picks;
// status carries the conditions of the eviction it causes.
type deviceTaintRuleStrategy struct{ apiresource.DefaultStrategy }

var taintEffects = sets.New(resourcev1.DeviceTaintEffectNoSchedule, resourcev1.DeviceTaintEffectNoExecute, resourcev1.DeviceTaintEffectNone)

// Default stamps the taint with the time it was added.
func (deviceTaintRuleStrategy) Default(obj runtime.Object) {
	t := &obj.(*resourcev1.DeviceTaintRule).Spec.Taint
	if t.TimeAdded == nil {
		t.TimeAdded = &metav1.Time{Time: time.Now().Truncate(time.Second)}
	}
}

func (deviceTaintRuleStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*resourcev1.DeviceTaintRule).Status = resourcev1.DeviceTaintRuleStatus{}
}

func (deviceTaintRuleStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateDeviceTaintRuleSpec(&obj.(*resourcev1.DeviceTaintRule).Spec)
}

func (deviceTaintRuleStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateDeviceTaintRuleSpec(&obj.(*resourcev1.DeviceTaintRule).Spec)
}

func (deviceTaintRuleStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	return metav1validation.ValidateConditions(obj.(*resourcev1.DeviceTaintRule).Status.Conditions, field.NewPath("status", "conditions"))
}

func validateDeviceTaintRuleSpec(spec *resourcev1.DeviceTaintRuleSpec) field.ErrorList {
	path := field.NewPath("spec")
	var errs field.ErrorList
	if s := spec.DeviceSelector; s != nil {
		spath := path.Child("deviceSelector")
		if s.Driver != nil {
			errs = append(errs, validateDriverName(*s.Driver, spath.Child("driver"))...)
		}
		if s.Pool != nil {
			errs = append(errs, validatePoolName(*s.Pool, spath.Child("pool"))...)
		}
		if s.Device != nil {
			errs = append(errs, dnsLabel(*s.Device, spath.Child("device"))...)
		}
	}
	t, tpath := spec.Taint, path.Child("taint")
	if t.Key == "" {
		errs = append(errs, field.Required(tpath.Child("key"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, tpath.Child("key"))...)
	}
	if t.Value != "" {
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(tpath.Child("value"), t.Value, msg))
		}
	}
	switch {
	case t.Effect == "":
		errs = append(errs, field.Required(tpath.Child("effect"), ""))
	case !taintEffects.Has(t.Effect):
		errs = append(errs, field.NotSupported(tpath.Child("effect"), t.Effect, sets.List(taintEffects)))
	}
	return errs
}
