package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// ResourceQuotas: spec.hard is what a namespace may use; status (hard
// as last seen and used) is written by the quota admission and the
// resource quota controller through /status.
func ResourceQuotas() *apiresource.Descriptor {
	d := core("resourcequotas", &corev1.ResourceQuota{}, &corev1.ResourceQuotaList{})
	d.ShortNames = []string{"quota"}
	d.Strategy = resourceQuotaStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.ResourceQuota()
	return d
}

// resourceQuotaStrategy is Kubernetes' (pkg/registry/core/resourcequota):
// a new quota starts without status, the object's writes keep the status
// and the status writes keep the spec; scopes are fixed at creation.
type resourceQuotaStrategy struct{ apiresource.DefaultStrategy }

func (resourceQuotaStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.ResourceQuota).Status = corev1.ResourceQuotaStatus{}
}

func (resourceQuotaStrategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*corev1.ResourceQuota).Status = old.(*corev1.ResourceQuota).Status
}

func (resourceQuotaStrategy) Validate(obj runtime.Object) field.ErrorList {
	q := obj.(*corev1.ResourceQuota)
	errs := validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))
	errs = append(errs, validateQuotaResourceList(q.Status.Hard, field.NewPath("status", "hard"))...)
	return append(errs, validateQuotaResourceList(q.Status.Used, field.NewPath("status", "used"))...)
}

func (resourceQuotaStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	q, oldQ := obj.(*corev1.ResourceQuota), old.(*corev1.ResourceQuota)
	errs := validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))
	if !sets.New(q.Spec.Scopes...).Equal(sets.New(oldQ.Spec.Scopes...)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, apivalidation.FieldImmutableErrorMsg))
	}
	return errs
}

func (resourceQuotaStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	q := obj.(*corev1.ResourceQuota)
	var errs field.ErrorList
	if q.ResourceVersion == "" {
		errs = append(errs, field.Required(field.NewPath("resourceVersion"), ""))
	}
	errs = append(errs, validateQuotaResourceList(q.Status.Hard, field.NewPath("status", "hard"))...)
	return append(errs, validateQuotaResourceList(q.Status.Used, field.NewPath("status", "used"))...)
}

// Warnings: a quota whose request limit exceeds its limit's limit can
// never be used up, as Kubernetes warns on create.
func (resourceQuotaStrategy) Warnings(obj runtime.Object) []string {
	hard := obj.(*corev1.ResourceQuota).Spec.Hard
	var out []string
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceStorage, corev1.ResourceEphemeralStorage} {
		reqName := corev1.ResourceName("requests." + string(name))
		req, reqOK := hard[reqName]
		if !reqOK && (name == corev1.ResourceCPU || name == corev1.ResourceMemory) {
			if req, reqOK = hard[name]; reqOK {
				reqName = name
			}
		}
		limName := corev1.ResourceName("limits." + string(name))
		lim, limOK := hard[limName]
		if reqOK && limOK && req.Cmp(lim) > 0 {
			out = append(out, fmt.Sprintf("ResourceQuota %s (%s) should be less than %s (%s)", reqName, req.String(), limName, lim.String()))
		}
	}
	return out
}

func validateResourceQuotaSpec(spec *corev1.ResourceQuotaSpec, p *field.Path) field.ErrorList {
	errs := validateQuotaResourceList(spec.Hard, p.Child("hard"))
	errs = append(errs, validateQuotaScopes(spec, p.Child("scopes"))...)
	if spec.ScopeSelector != nil {
		errs = append(errs, validateScopeSelector(spec, p.Child("scopeSelector", "matchExpressions"))...)
	}
	return errs
}

// validateQuotaResourceList checks the names (standard quota resources
// or fully qualified) and quantities (not negative, whole for counts) of
// a quota's hard or used list.
func validateQuotaResourceList(list corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(list) {
		rp := p.Key(string(name))
		errs = append(errs, validateQuotaResourceName(name, rp)...)
		q := list[name]
		errs = append(errs, validateNonnegativeQuantity(q, rp)...)
		if isIntegerResourceName(name) && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(rp, q.String(), "must be an integer"))
		}
	}
	return errs
}

func validateQuotaResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	errs := validateStandardResourceName(name, p)
	if len(errs) == 0 && !strings.Contains(string(name), "/") && !standardQuotaResources.Has(name) && !isQuotaHugePages(name) {
		errs = append(errs, field.Invalid(p, name, "must be a standard resource for quota"))
	}
	return errs
}

// validateStandardResourceName: a qualified name, and unprefixed only if
// Kubernetes knows it.
func validateStandardResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	if errs := validateQualifiedName(string(name), p); len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") && !standardResources.Has(name) && !isQuotaHugePages(name) {
		return field.ErrorList{field.Invalid(p, name, "must be a standard resource type or fully qualified")}
	}
	return nil
}

var (
	countResources = []corev1.ResourceName{
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
		corev1.ResourceSecrets, corev1.ResourceConfigMaps, corev1.ResourcePersistentVolumeClaims,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
	}
	computeQuotaResources = []corev1.ResourceName{
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage, corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
	}
	standardQuotaResources = sets.New(append(computeQuotaResources, countResources...)...)
	standardResources      = sets.New(append(append(computeQuotaResources, countResources...), corev1.ResourceStorage)...)
	integerResources       = sets.New(countResources...)

	standardQuotaScopes = sets.New(
		corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
		corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeVolumeAttributesClass,
		corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	)
	// existsOnlyScopes take no values: a pod is in them or not.
	existsOnlyScopes = sets.New(
		corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
		corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	)
	conflictingScopes = [][2]corev1.ResourceQuotaScope{
		{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
		{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
	}
)

func isQuotaHugePages(name corev1.ResourceName) bool {
	return isHugePages(name) || strings.HasPrefix(string(name), corev1.ResourceRequestsHugePagesPrefix)
}

func isIntegerResourceName(name corev1.ResourceName) bool {
	return integerResources.Has(name) || isExtendedResource(name)
}

// scopeValidForResource says which resources a scope can limit: the pod
// scopes pods and their compute resources (BestEffort pods have none, so
// only their count), the VolumeAttributesClass scope claims.
func scopeValidForResource(scope corev1.ResourceQuotaScope, name corev1.ResourceName) bool {
	pod := name == corev1.ResourcePods
	compute := sets.New(corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory).Has(name)
	switch scope {
	case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return pod || compute
	case corev1.ResourceQuotaScopeBestEffort:
		return pod
	case corev1.ResourceQuotaScopeVolumeAttributesClass:
		return name == corev1.ResourcePersistentVolumeClaims || name == corev1.ResourceRequestsStorage
	}
	return true
}

func validateQuotaScopes(spec *corev1.ResourceQuotaSpec, p *field.Path) field.ErrorList {
	if len(spec.Scopes) == 0 {
		return nil
	}
	var errs field.ErrorList
	for _, scope := range spec.Scopes {
		if !standardQuotaScopes.Has(scope) {
			errs = append(errs, field.Invalid(p, spec.Scopes, "unsupported scope"))
		}
		for _, name := range sortedKeys(spec.Hard) {
			if (standardQuotaResources.Has(name) || isQuotaHugePages(name)) && !scopeValidForResource(scope, name) {
				errs = append(errs, field.Invalid(p, spec.Scopes, "unsupported scope applied to resource"))
			}
		}
	}
	if conflicting(sets.New(spec.Scopes...)) {
		errs = append(errs, field.Invalid(p, spec.Scopes, "conflicting scopes"))
	}
	return errs
}

func conflicting(scopes sets.Set[corev1.ResourceQuotaScope]) bool {
	for _, pair := range conflictingScopes {
		if scopes.HasAll(pair[0], pair[1]) {
			return true
		}
	}
	return false
}

// validateScopeSelector checks scopeSelector.matchExpressions (p).
func validateScopeSelector(spec *corev1.ResourceQuotaSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	scopes := sets.New[corev1.ResourceQuotaScope]()
	for _, req := range spec.ScopeSelector.MatchExpressions {
		if !standardQuotaScopes.Has(req.ScopeName) {
			errs = append(errs, field.Invalid(p.Child("scopeName"), req.ScopeName, "unsupported scope"))
		}
		for _, name := range sortedKeys(spec.Hard) {
			if (standardQuotaResources.Has(name) || isQuotaHugePages(name)) && !scopeValidForResource(req.ScopeName, name) {
				errs = append(errs, field.Invalid(p, spec.ScopeSelector, "unsupported scope applied to resource"))
			}
		}
		if existsOnlyScopes.Has(req.ScopeName) && req.Operator != corev1.ScopeSelectorOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), req.Operator,
				"must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
		}
		switch req.Operator {
		case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
			}
		case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
			if len(req.Values) != 0 {
				errs = append(errs, field.Invalid(p.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
			}
		default:
			errs = append(errs, field.Invalid(p.Child("operator"), req.Operator, "not a valid selector operator"))
		}
		scopes.Insert(req.ScopeName)
	}
	if conflicting(scopes) {
		errs = append(errs, field.Invalid(p, spec.Scopes, "conflicting scopes"))
	}
	return errs
}
