package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"coracle.dev/apiserver/internal/apiresource"
)

// LimitRanges: per-container, per-pod and per-claim minimums, maximums
// and defaults of a namespace, which the LimitRanger admission applies.
// No columns of their own: Kubernetes prints them with the default Name
// and Created At.
func LimitRanges() *apiresource.Descriptor {
	d := core("limitranges", &corev1.LimitRange{}, &corev1.LimitRangeList{})
	d.ShortNames = []string{"limits"}
	d.Strategy = limitRangeStrategy{}
	return d
}

// limitRangeStrategy: core/v1's defaults and Kubernetes' validation
// (ValidateLimitRange).
type limitRangeStrategy struct{ apiresource.DefaultStrategy }

// Default fills a Container limit's default limit from its max, and its
// default request from the default limit, else from its min.
func (limitRangeStrategy) Default(obj runtime.Object) {
	lr := obj.(*corev1.LimitRange)
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		fill := func(dst, src corev1.ResourceList) {
			for k, v := range src {
				if _, ok := dst[k]; !ok {
					dst[k] = v.DeepCopy()
				}
			}
		}
		fill(item.Default, item.Max)
		fill(item.DefaultRequest, item.Default)
		fill(item.DefaultRequest, item.Min)
	}
}

func (limitRangeStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateLimitRange(obj.(*corev1.LimitRange))
}

func (s limitRangeStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return s.Validate(obj)
}

var standardLimitTypes = sets.New(corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim)

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	types := sets.New[corev1.LimitType]()
	base := field.NewPath("spec", "limits")
	for i := range lr.Spec.Limits {
		p := base.Index(i)
		item := &lr.Spec.Limits[i]
		errs = append(errs, validateLimitType(item.Type, p.Child("type"))...)
		if types.Has(item.Type) {
			errs = append(errs, field.Duplicate(p.Child("type"), item.Type))
		}
		types.Insert(item.Type)

		keys := sets.New[corev1.ResourceName]()
		names := func(list corev1.ResourceList, child string) {
			for _, k := range sortedKeys(list) {
				errs = append(errs, validateLimitRangeResourceName(item.Type, k, p.Child(child).Key(string(k)))...)
				keys.Insert(k)
			}
		}
		names(item.Max, "max")
		names(item.Min, "min")
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		} else {
			names(item.Default, "default")
			names(item.DefaultRequest, "defaultRequest")
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := item.Min[corev1.ResourceStorage]
			_, hasMax := item.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				errs = append(errs, field.Required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		names(item.MaxLimitRequestRatio, "maxLimitRequestRatio")
		for _, k := range sets.List(keys) {
			errs = append(errs, validateLimitRangeValues(item, k, p)...)
		}
	}
	return errs
}

// validateLimitRangeValues checks that one resource's min, max,
// defaults and ratio of an item agree with each other.
func validateLimitRangeValues(item *corev1.LimitRangeItem, k corev1.ResourceName, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	minQ, hasMin := item.Min[k]
	maxQ, hasMax := item.Max[k]
	def, hasDef := item.Default[k]
	defReq, hasDefReq := item.DefaultRequest[k]
	ratio, hasRatio := item.MaxLimitRequestRatio[k]
	key := string(k)
	if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
		errs = append(errs, field.Invalid(p.Child("min").Key(key), minQ, fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
	}
	if hasDefReq && hasMin && minQ.Cmp(defReq) > 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), defReq.String())))
	}
	if hasDefReq && hasMax && defReq.Cmp(maxQ) > 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than max value %s", defReq.String(), maxQ.String())))
	}
	if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than default limit value %s", defReq.String(), def.String())))
	}
	if hasDef && hasMin && minQ.Cmp(def) > 0 {
		errs = append(errs, field.Invalid(p.Child("default").Key(key), minQ, fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), def.String())))
	}
	if hasDef && hasMax && def.Cmp(maxQ) > 0 {
		errs = append(errs, field.Invalid(p.Child("default").Key(key), maxQ, fmt.Sprintf("default value %s is greater than max value %s", def.String(), maxQ.String())))
	}
	if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
		errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
	}
	if hasRatio && hasMin && hasMax {
		ratioValue, minValue, maxValue := float64(ratio.Value()), minQ.Value(), maxQ.Value()
		if ratio.Value() < resource.MaxMilliValue && minValue < resource.MaxMilliValue && maxValue < resource.MaxMilliValue {
			ratioValue, minValue, maxValue = float64(ratio.MilliValue())/1000, minQ.MilliValue(), maxQ.MilliValue()
		}
		limit := float64(maxValue) / float64(minValue)
		if ratioValue > limit {
			errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio, fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
		}
	}
	// Resources that cannot be overcommitted (hugepages, devices) are
	// given exactly what they ask for.
	if !overcommitAllowed(k) && hasDef && hasDefReq && def.Cmp(defReq) != 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", def.String(), defReq.String(), k)))
	}
	return errs
}

func validateLimitType(t corev1.LimitType, p *field.Path) field.ErrorList {
	if errs := validateQualifiedName(string(t), p); len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(t), "/") && !standardLimitTypes.Has(t) {
		return field.ErrorList{field.Invalid(p, t, "must be a standard limit type or fully qualified")}
	}
	return nil
}

// validateLimitRangeResourceName: container resources for Pod and
// Container limits, any known or qualified resource (storage) for the
// others.
func validateLimitRangeResourceName(t corev1.LimitType, name corev1.ResourceName, p *field.Path) field.ErrorList {
	if t == corev1.LimitTypePod || t == corev1.LimitTypeContainer {
		if errs := validateStandardResourceName(name, p); len(errs) > 0 {
			return errs
		}
		return validateContainerResourceName(name, p)
	}
	return validateStandardResourceName(name, p)
}
