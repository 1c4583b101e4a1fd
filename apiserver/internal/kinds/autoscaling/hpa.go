package autoscaling

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// hpaStrategy defaults and validates HorizontalPodAutoscalers as
// Kubernetes' autoscaling/v2 API and pkg/apis/autoscaling/validation do.
type hpaStrategy struct{ apiresource.DefaultStrategy }

func (hpaStrategy) Default(obj runtime.Object) {
	defaultHPA(obj.(*autoscalingv2.HorizontalPodAutoscaler))
}

// PrepareForCreate resets the status and, as PrepareForUpdate, drops the
// annotations autoscaling/v1 keeps v2's fields in: through v2 those
// fields are the object's own, and Kubernetes never stores the
// annotations.
func (hpaStrategy) PrepareForCreate(obj runtime.Object) {
	h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
	h.Annotations = dropRoundTripAnnotations(h.Annotations)
}

func (hpaStrategy) PrepareForUpdate(obj, _ runtime.Object) {
	h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	h.Annotations = dropRoundTripAnnotations(h.Annotations)
}

func (hpaStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateHPASpec(&obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec)
}

func (hpaStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateHPASpec(&obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec)
}

func (hpaStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	st := obj.(*autoscalingv2.HorizontalPodAutoscaler).Status
	p := field.NewPath("status")
	errs := apivalidation.ValidateNonnegativeField(int64(st.CurrentReplicas), p.Child("currentReplicas"))
	return append(errs, apivalidation.ValidateNonnegativeField(int64(st.DesiredReplicas), p.Child("desiredReplicas"))...)
}

// defaultCPUUtilization is the target of an HPA that names no metric.
const defaultCPUUtilization = 80

func defaultHPA(h *autoscalingv2.HorizontalPodAutoscaler) {
	s := &h.Spec
	if s.MinReplicas == nil {
		s.MinReplicas = ptr.To[int32](1)
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: ptr.To[int32](defaultCPUUtilization),
				},
			},
		}}
	}
	// Kubernetes completes a behavior the client wrote, field by field,
	// and leaves an unset one to the controller's flags.
	if b := s.Behavior; b != nil {
		b.ScaleUp = completeRules(b.ScaleUp, autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](0),
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		})
		// The scale-down window stays unset: the controller's
		// --horizontal-pod-autoscaler-downscale-stabilization applies.
		b.ScaleDown = completeRules(b.ScaleDown, autoscalingv2.HPAScalingRules{
			SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			},
		})
	}
}

func completeRules(set *autoscalingv2.HPAScalingRules, def autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if set == nil {
		return &def
	}
	if set.StabilizationWindowSeconds == nil {
		set.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if set.SelectPolicy == nil {
		set.SelectPolicy = def.SelectPolicy
	}
	if set.Policies == nil {
		set.Policies = def.Policies
	}
	return set
}

const (
	maxPeriodSeconds              = 1800
	maxStabilizationWindowSeconds = 3600
)

var (
	specPath      = field.NewPath("spec")
	metricSources = sets.New(autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType,
		autoscalingv2.ResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType)
	selectPolicies = sets.New(autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect)
	policyTypes    = sets.New(autoscalingv2.PodsScalingPolicy, autoscalingv2.PercentScalingPolicy)
)

func validateHPASpec(s *autoscalingv2.HorizontalPodAutoscalerSpec) field.ErrorList {
	var errs field.ErrorList
	if s.MinReplicas != nil && *s.MinReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("minReplicas"), *s.MinReplicas, "must be greater than or equal to 1"))
	}
	if s.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), s.MaxReplicas, "must be greater than 0"))
	}
	if s.MinReplicas != nil && s.MaxReplicas < *s.MinReplicas {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	errs = append(errs, validateObjectReference(s.ScaleTargetRef, specPath.Child("scaleTargetRef"))...)
	for i := range s.Metrics {
		errs = append(errs, validateMetricSpec(&s.Metrics[i], specPath.Child("metrics").Index(i))...)
	}
	if b := s.Behavior; b != nil {
		errs = append(errs, validateScalingRules(b.ScaleUp, specPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, specPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

// validateObjectReference checks kind and name, which go into the path of
// the scale subresource the controller calls.
func validateObjectReference(ref autoscalingv2.CrossVersionObjectReference, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct{ name, value string }{{"kind", ref.Kind}, {"name", ref.Name}} {
		if f.value == "" {
			errs = append(errs, field.Required(path.Child(f.name), ""))
			continue
		}
		for _, msg := range content.IsPathSegmentName(f.value) {
			errs = append(errs, field.Invalid(path.Child(f.name), f.value, msg))
		}
	}
	return errs
}

// sourceField names the member of MetricSpec each source type fills.
var sourceField = map[autoscalingv2.MetricSourceType]string{
	autoscalingv2.ObjectMetricSourceType:            "object",
	autoscalingv2.PodsMetricSourceType:              "pods",
	autoscalingv2.ResourceMetricSourceType:          "resource",
	autoscalingv2.ContainerResourceMetricSourceType: "containerResource",
	autoscalingv2.ExternalMetricSourceType:          "external",
}

func validateMetricSpec(m *autoscalingv2.MetricSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case m.Type == "":
		errs = append(errs, field.Required(path.Child("type"), "must specify a metric source type"))
	case !metricSources.Has(m.Type):
		errs = append(errs, field.NotSupported(path.Child("type"), m.Type, sets.List(metricSources)))
	}
	present := map[string]bool{
		"object": m.Object != nil, "pods": m.Pods != nil, "resource": m.Resource != nil,
		"containerResource": m.ContainerResource != nil, "external": m.External != nil,
	}
	want, known := sourceField[m.Type]
	if known && !present[want] {
		errs = append(errs, field.Required(path.Child(want), "must populate information for the given metric source"))
	}
	for _, name := range []string{"object", "pods", "resource", "containerResource", "external"} {
		if present[name] && known && name != want {
			errs = append(errs, field.Forbidden(path.Child(name), "must populate the given metric source only"))
		}
	}
	if !known || !present[want] {
		return errs
	}
	switch m.Type {
	case autoscalingv2.ObjectMetricSourceType:
		src, p := m.Object, path.Child("object")
		errs = append(errs, validateObjectReference(src.DescribedObject, p.Child("describedObject"))...)
		errs = append(errs, validateMetricIdentifier(src.Metric, p.Child("metric"))...)
		errs = append(errs, validateMetricTarget(src.Target, p.Child("target"))...)
		if src.Target.Value == nil && src.Target.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("target", "averageValue"), "must set either a target value or averageValue"))
		}
	case autoscalingv2.PodsMetricSourceType:
		src, p := m.Pods, path.Child("pods")
		errs = append(errs, validateMetricIdentifier(src.Metric, p.Child("metric"))...)
		errs = append(errs, validateMetricTarget(src.Target, p.Child("target"))...)
		if src.Target.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("target", "averageValue"), "must specify a positive target averageValue"))
		}
	case autoscalingv2.ExternalMetricSourceType:
		src, p := m.External, path.Child("external")
		errs = append(errs, validateMetricIdentifier(src.Metric, p.Child("metric"))...)
		errs = append(errs, validateMetricTarget(src.Target, p.Child("target"))...)
		switch {
		case src.Target.Value == nil && src.Target.AverageValue == nil:
			errs = append(errs, field.Required(p.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
		case src.Target.Value != nil && src.Target.AverageValue != nil:
			errs = append(errs, field.Forbidden(p.Child("target", "value"), "may not set both a target value for metric and a per-pod target"))
		}
	case autoscalingv2.ResourceMetricSourceType:
		errs = append(errs, validateResourceTarget(m.Resource.Name, m.Resource.Target, path.Child("resource"))...)
	case autoscalingv2.ContainerResourceMetricSourceType:
		src, p := m.ContainerResource, path.Child("containerResource")
		errs = append(errs, validateResourceTarget(src.Name, src.Target, p)...)
		if src.Container == "" {
			errs = append(errs, field.Required(p.Child("container"), "must specify a container"))
		} else {
			for _, msg := range content.IsDNS1123Label(src.Container) {
				errs = append(errs, field.Invalid(p.Child("container"), src.Container, msg))
			}
		}
	}
	return errs
}

func validateResourceTarget(name corev1.ResourceName, t autoscalingv2.MetricTarget, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(path.Child("name"), "must specify a resource name"))
	}
	errs = append(errs, validateMetricTarget(t, path.Child("target"))...)
	switch {
	case t.AverageUtilization == nil && t.AverageValue == nil:
		errs = append(errs, field.Required(path.Child("target", "averageUtilization"), "must set either a target raw value or a target utilization"))
	case t.AverageUtilization != nil && t.AverageValue != nil:
		errs = append(errs, field.Forbidden(path.Child("target", "averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return errs
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if id.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), "must specify a metric name"))
	} else {
		for _, msg := range content.IsPathSegmentName(id.Name) {
			errs = append(errs, field.Invalid(path.Child("name"), id.Name, msg))
		}
	}
	return append(errs, metav1validation.ValidateLabelSelector(id.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
}

func validateMetricTarget(t autoscalingv2.MetricTarget, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch t.Type {
	case autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType:
	case "":
		errs = append(errs, field.Required(path.Child("type"), "must specify a metric target type"))
	default:
		errs = append(errs, field.Invalid(path.Child("type"), t.Type, "must be either Utilization, Value, or AverageValue"))
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		errs = append(errs, field.Invalid(path.Child("value"), t.Value.String(), "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		errs = append(errs, field.Invalid(path.Child("averageValue"), t.AverageValue.String(), "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(path.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}

func validateScalingRules(r *autoscalingv2.HPAScalingRules, path *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil {
		wpath := path.Child("stabilizationWindowSeconds")
		if *w < 0 {
			errs = append(errs, field.Invalid(wpath, *w, "must be greater than or equal to zero"))
		}
		if *w > maxStabilizationWindowSeconds {
			errs = append(errs, field.Invalid(wpath, *w, fmt.Sprintf("must be less than or equal to %d", maxStabilizationWindowSeconds)))
		}
	}
	if r.SelectPolicy != nil && !selectPolicies.Has(*r.SelectPolicy) {
		errs = append(errs, field.NotSupported(path.Child("selectPolicy"), *r.SelectPolicy, sets.List(selectPolicies)))
	}
	ppath := path.Child("policies")
	if len(r.Policies) == 0 {
		errs = append(errs, field.Required(ppath, "must specify at least one Policy"))
	}
	for i, p := range r.Policies {
		pp := ppath.Index(i)
		if !policyTypes.Has(p.Type) {
			errs = append(errs, field.NotSupported(pp.Child("type"), p.Type, sets.List(policyTypes)))
		}
		if p.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), p.Value, "must be greater than zero"))
		}
		if p.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), p.PeriodSeconds, "must be greater than zero"))
		}
		if p.PeriodSeconds > maxPeriodSeconds {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), p.PeriodSeconds, fmt.Sprintf("must be less than or equal to %d", maxPeriodSeconds)))
		}
	}
	if r.Tolerance != nil && r.Tolerance.Sign() < 0 {
		errs = append(errs, field.Invalid(path.Child("tolerance"), r.Tolerance.String(), "must be greater than or equal to zero"))
	}
	return errs
}
