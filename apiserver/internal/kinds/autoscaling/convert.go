package autoscaling

import (
	"encoding/json"
	"fmt"
	"maps"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// The annotations in which autoscaling/v1 keeps what only autoscaling/v2
// can say, so that an HPA read and written back through v1 loses none of
// it (Kubernetes' pkg/apis/autoscaling).
const (
	// MetricSpecsAnnotation holds the metrics other than a CPU
	// utilization target, as autoscaling/v1 MetricSpecs.
	MetricSpecsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"
	// MetricStatusesAnnotation holds status.currentMetrics, as
	// autoscaling/v1 MetricStatuses.
	MetricStatusesAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	// ConditionsAnnotation holds status.conditions.
	ConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
	// BehaviorSpecsAnnotation holds spec.behavior.
	BehaviorSpecsAnnotation = "autoscaling.alpha.kubernetes.io/behavior"

	// The autoscaling/v2beta2 tolerance annotations: not written by
	// v1, but dropped with the others.
	toleranceScaleDownAnnotation = "autoscaling.alpha.kubernetes.io/scale-down-tolerance"
	toleranceScaleUpAnnotation   = "autoscaling.alpha.kubernetes.io/scale-up-tolerance"
)

var roundTripAnnotations = []string{
	MetricSpecsAnnotation, MetricStatusesAnnotation, ConditionsAnnotation, BehaviorSpecsAnnotation,
	toleranceScaleDownAnnotation, toleranceScaleUpAnnotation,
}

// dropRoundTripAnnotations returns annotations without the round-trip
// ones, copied if it had any (the input may be shared), else as it was.
func dropRoundTripAnnotations(annotations map[string]string) map[string]string {
	has := false
	for _, k := range roundTripAnnotations {
		if _, ok := annotations[k]; ok {
			has = true
		}
	}
	if !has {
		return annotations
	}
	out := maps.Clone(annotations)
	for _, k := range roundTripAnnotations {
		delete(out, k)
	}
	return out
}

// behaviorJSON is how Kubernetes writes a behavior into
// BehaviorSpecsAnnotation: as its internal type, whose fields have no
// json tags and so keep their Go names.
type behaviorJSON struct {
	ScaleUp   *scalingRulesJSON
	ScaleDown *scalingRulesJSON
}

type scalingRulesJSON struct {
	StabilizationWindowSeconds *int32
	SelectPolicy               *autoscalingv2.ScalingPolicySelect
	Policies                   []scalingPolicyJSON
	Tolerance                  *resource.Quantity
}

type scalingPolicyJSON struct {
	Type          autoscalingv2.HPAScalingPolicyType
	Value         int32
	PeriodSeconds int32
}

func rulesToJSON(r *autoscalingv2.HPAScalingRules) *scalingRulesJSON {
	if r == nil {
		return nil
	}
	out := &scalingRulesJSON{StabilizationWindowSeconds: r.StabilizationWindowSeconds, SelectPolicy: r.SelectPolicy, Tolerance: r.Tolerance}
	if r.Policies != nil {
		out.Policies = make([]scalingPolicyJSON, len(r.Policies))
		for i, p := range r.Policies {
			out.Policies[i] = scalingPolicyJSON(p)
		}
	}
	return out
}

func rulesFromJSON(r *scalingRulesJSON) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return nil
	}
	out := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: r.StabilizationWindowSeconds, SelectPolicy: r.SelectPolicy, Tolerance: r.Tolerance}
	if r.Policies != nil {
		out.Policies = make([]autoscalingv2.HPAScalingPolicy, len(r.Policies))
		for i, p := range r.Policies {
			out.Policies[i] = autoscalingv2.HPAScalingPolicy(p)
		}
	}
	return out
}

// isCPUUtilization reports whether m is the one metric autoscaling/v1
// has a field for: a CPU utilization target.
func isCPUUtilization(m autoscalingv2.MetricSpec) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil &&
		m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil
}

// HPAToV1 returns an autoscaling/v2 HorizontalPodAutoscaler as
// autoscaling/v1 shows it, as Kubernetes converts it: a CPU utilization
// target becomes targetCPUUtilizationPercentage, and the other metrics,
// the current metrics, the conditions and the behavior go into
// annotations, from which HPAToV2 restores them. in is not modified.
func HPAToV1(in *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	// The result shares nothing with in.
	in = in.DeepCopy()
	out := &autoscalingv1.HorizontalPodAutoscaler{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta}
	out.APIVersion = autoscalingv1.SchemeGroupVersion.String()
	// Only the annotations made here may be on the result.
	out.Annotations = dropRoundTripAnnotations(out.Annotations)

	spec := &out.Spec
	spec.ScaleTargetRef = autoscalingv1.CrossVersionObjectReference(in.Spec.ScaleTargetRef)
	spec.MinReplicas, spec.MaxReplicas = in.Spec.MinReplicas, in.Spec.MaxReplicas
	var others []autoscalingv1.MetricSpec
	for _, m := range in.Spec.Metrics {
		if isCPUUtilization(m) {
			if spec.TargetCPUUtilizationPercentage == nil {
				spec.TargetCPUUtilizationPercentage = ptr.To(*m.Resource.Target.AverageUtilization)
			}
			continue
		}
		others = append(others, metricSpecToV1(m))
	}

	status := &out.Status
	st := in.Status
	status.ObservedGeneration, status.LastScaleTime = st.ObservedGeneration, st.LastScaleTime
	status.CurrentReplicas, status.DesiredReplicas = st.CurrentReplicas, st.DesiredReplicas
	// Every current metric goes into the annotation, the CPU one too: it
	// has a raw value besides the utilization v1 has a field for.
	current := make([]autoscalingv1.MetricStatus, len(st.CurrentMetrics))
	for i, m := range st.CurrentMetrics {
		current[i] = metricStatusToV1(m)
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Current.AverageUtilization != nil {
			status.CurrentCPUUtilizationPercentage = ptr.To(*m.Resource.Current.AverageUtilization)
		}
	}
	conditions := make([]autoscalingv1.HorizontalPodAutoscalerCondition, len(st.Conditions))
	for i, c := range st.Conditions {
		conditions[i] = autoscalingv1.HorizontalPodAutoscalerCondition{
			Type: autoscalingv1.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message, ObservedGeneration: c.ObservedGeneration,
		}
	}

	annotate := func(key string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("convert HorizontalPodAutoscaler to autoscaling/v1: %s: %w", key, err)
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = string(data)
		return nil
	}
	if len(others) > 0 {
		if err := annotate(MetricSpecsAnnotation, others); err != nil {
			return nil, err
		}
	}
	if len(st.CurrentMetrics) > 0 {
		if err := annotate(MetricStatusesAnnotation, current); err != nil {
			return nil, err
		}
	}
	if b := in.Spec.Behavior; b != nil {
		if err := annotate(BehaviorSpecsAnnotation, behaviorJSON{ScaleUp: rulesToJSON(b.ScaleUp), ScaleDown: rulesToJSON(b.ScaleDown)}); err != nil {
			return nil, err
		}
	}
	if len(st.Conditions) > 0 {
		if err := annotate(ConditionsAnnotation, conditions); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// HPAToV2 returns an autoscaling/v1 HorizontalPodAutoscaler as
// autoscaling/v2, as Kubernetes converts it: targetCPUUtilizationPercentage
// becomes a CPU utilization metric after the metrics the annotations
// keep, the annotations restore what v1 has no fields for and are
// dropped, and an HPA with no metric at all gets the implicit 80% CPU
// target v1 always had. in is not modified.
func HPAToV2(in *autoscalingv1.HorizontalPodAutoscaler) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	in = in.DeepCopy()
	out := &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: in.TypeMeta, ObjectMeta: in.ObjectMeta}
	out.APIVersion = autoscalingv2.SchemeGroupVersion.String()

	spec := &out.Spec
	spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference(in.Spec.ScaleTargetRef)
	spec.MinReplicas, spec.MaxReplicas = in.Spec.MinReplicas, in.Spec.MaxReplicas
	var cpu []autoscalingv2.MetricSpec
	if t := in.Spec.TargetCPUUtilizationPercentage; t != nil {
		cpu = []autoscalingv2.MetricSpec{cpuUtilization(*t)}
	}
	spec.Metrics = cpu
	// An annotation that does not parse is ignored, as Kubernetes does.
	if enc, ok := in.Annotations[MetricSpecsAnnotation]; ok {
		var others []autoscalingv1.MetricSpec
		if err := json.Unmarshal([]byte(enc), &others); err == nil {
			metrics := make([]autoscalingv2.MetricSpec, 0, len(others)+len(cpu))
			for _, m := range others {
				metrics = append(metrics, metricSpecToV2(m))
			}
			spec.Metrics = append(metrics, cpu...)
		}
	}
	if enc, ok := in.Annotations[BehaviorSpecsAnnotation]; ok {
		var b behaviorJSON
		if err := json.Unmarshal([]byte(enc), &b); err == nil && (b.ScaleUp != nil || b.ScaleDown != nil) {
			spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rulesFromJSON(b.ScaleUp), ScaleDown: rulesFromJSON(b.ScaleDown)}
		}
	}
	if len(spec.Metrics) == 0 {
		spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilization(defaultCPUUtilization)}
	}

	status := &out.Status
	st := in.Status
	status.ObservedGeneration, status.LastScaleTime = st.ObservedGeneration, st.LastScaleTime
	status.CurrentReplicas, status.DesiredReplicas = st.CurrentReplicas, st.DesiredReplicas
	if u := st.CurrentCPUUtilizationPercentage; u != nil {
		status.CurrentMetrics = []autoscalingv2.MetricStatus{{
			Type:     autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(*u)}},
		}}
	}
	// The annotation's current metrics have more than the CPU
	// utilization field: they replace it.
	if enc, ok := in.Annotations[MetricStatusesAnnotation]; ok {
		var current []autoscalingv1.MetricStatus
		if err := json.Unmarshal([]byte(enc), &current); err == nil {
			status.CurrentMetrics = make([]autoscalingv2.MetricStatus, len(current))
			for i, m := range current {
				status.CurrentMetrics[i] = metricStatusToV2(m)
			}
		}
	}
	if enc, ok := in.Annotations[ConditionsAnnotation]; ok {
		var conditions []autoscalingv1.HorizontalPodAutoscalerCondition
		if err := json.Unmarshal([]byte(enc), &conditions); err == nil {
			status.Conditions = make([]autoscalingv2.HorizontalPodAutoscalerCondition, len(conditions))
			for i, c := range conditions {
				status.Conditions[i] = autoscalingv2.HorizontalPodAutoscalerCondition{
					Type: autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type), Status: c.Status,
					LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message, ObservedGeneration: c.ObservedGeneration,
				}
			}
		}
	}
	out.Annotations = dropRoundTripAnnotations(out.Annotations)
	return out, nil
}

func cpuUtilization(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(percent)},
		},
	}
}

// metricSpecToV1 is Kubernetes' autoscaling-to-v1 MetricSpec conversion:
// v1 has no target type, which the fields set imply.
func metricSpecToV1(m autoscalingv2.MetricSpec) autoscalingv1.MetricSpec {
	out := autoscalingv1.MetricSpec{Type: autoscalingv1.MetricSourceType(m.Type)}
	if s := m.Object; s != nil {
		o := &autoscalingv1.ObjectMetricSource{
			Target:     autoscalingv1.CrossVersionObjectReference(s.DescribedObject),
			MetricName: s.Metric.Name, Selector: s.Metric.Selector, AverageValue: s.Target.AverageValue,
		}
		if s.Target.Value != nil {
			o.TargetValue = *s.Target.Value
		}
		out.Object = o
	}
	if s := m.Pods; s != nil {
		p := &autoscalingv1.PodsMetricSource{MetricName: s.Metric.Name, Selector: s.Metric.Selector}
		if s.Target.AverageValue != nil {
			p.TargetAverageValue = *s.Target.AverageValue
		}
		out.Pods = p
	}
	if s := m.Resource; s != nil {
		out.Resource = &autoscalingv1.ResourceMetricSource{
			Name: s.Name, TargetAverageUtilization: s.Target.AverageUtilization, TargetAverageValue: s.Target.AverageValue,
		}
	}
	if s := m.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricSource{
			Name: s.Name, Container: s.Container, TargetAverageUtilization: s.Target.AverageUtilization, TargetAverageValue: s.Target.AverageValue,
		}
	}
	if s := m.External; s != nil {
		out.External = &autoscalingv1.ExternalMetricSource{
			MetricName: s.Metric.Name, MetricSelector: s.Metric.Selector, TargetValue: s.Target.Value, TargetAverageValue: s.Target.AverageValue,
		}
	}
	return out
}

// metricSpecToV2 is Kubernetes' v1-to-autoscaling MetricSpec conversion.
func metricSpecToV2(m autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(m.Type)}
	if s := m.Object; s != nil {
		target := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, AverageValue: s.AverageValue}
		if s.AverageValue == nil {
			target.Value = ptr.To(s.TargetValue)
		} else {
			target.Type = autoscalingv2.AverageValueMetricType
			// v1 cannot omit targetValue, and sends 0, which would not
			// validate on the way back: keep only a real one.
			if !s.TargetValue.IsZero() {
				target.Value = ptr.To(s.TargetValue)
			}
		}
		out.Object = &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(s.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Target:          target,
		}
	}
	if s := m.Pods; s != nil {
		out.Pods = &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(s.TargetAverageValue)},
		}
	}
	if s := m.Resource; s != nil {
		out.Resource = &autoscalingv2.ResourceMetricSource{Name: s.Name, Target: resourceTarget(s.TargetAverageUtilization, s.TargetAverageValue)}
	}
	if s := m.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{
			Name: s.Name, Container: s.Container, Target: resourceTarget(s.TargetAverageUtilization, s.TargetAverageValue),
		}
	}
	if s := m.External; s != nil {
		target := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, Value: s.TargetValue, AverageValue: s.TargetAverageValue}
		if s.TargetValue != nil {
			target.Type = autoscalingv2.ValueMetricType
		}
		out.External = &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.MetricSelector},
			Target: target,
		}
	}
	return out
}

func resourceTarget(utilization *int32, averageValue *resource.Quantity) autoscalingv2.MetricTarget {
	t := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageUtilization: utilization, AverageValue: averageValue}
	if utilization != nil {
		t.Type = autoscalingv2.UtilizationMetricType
	}
	return t
}

// metricStatusToV1 is Kubernetes' autoscaling-to-v1 MetricStatus
// conversion.
func metricStatusToV1(m autoscalingv2.MetricStatus) autoscalingv1.MetricStatus {
	out := autoscalingv1.MetricStatus{Type: autoscalingv1.MetricSourceType(m.Type)}
	if s := m.Object; s != nil {
		o := &autoscalingv1.ObjectMetricStatus{
			Target:     autoscalingv1.CrossVersionObjectReference(s.DescribedObject),
			MetricName: s.Metric.Name, Selector: s.Metric.Selector,
		}
		if s.Current.Value != nil {
			o.CurrentValue = *s.Current.Value
		}
		if s.Current.AverageValue != nil {
			o.AverageValue = ptr.To(*s.Current.AverageValue)
		}
		out.Object = o
	}
	if s := m.Pods; s != nil {
		p := &autoscalingv1.PodsMetricStatus{MetricName: s.Metric.Name, Selector: s.Metric.Selector}
		if s.Current.AverageValue != nil {
			p.CurrentAverageValue = *s.Current.AverageValue
		}
		out.Pods = p
	}
	if s := m.Resource; s != nil {
		r := &autoscalingv1.ResourceMetricStatus{Name: s.Name, CurrentAverageUtilization: s.Current.AverageUtilization}
		if s.Current.AverageValue != nil {
			r.CurrentAverageValue = *s.Current.AverageValue
		}
		out.Resource = r
	}
	if s := m.ContainerResource; s != nil {
		r := &autoscalingv1.ContainerResourceMetricStatus{Name: s.Name, Container: s.Container, CurrentAverageUtilization: s.Current.AverageUtilization}
		if s.Current.AverageValue != nil {
			r.CurrentAverageValue = *s.Current.AverageValue
		}
		out.ContainerResource = r
	}
	if s := m.External; s != nil {
		e := &autoscalingv1.ExternalMetricStatus{MetricName: s.Metric.Name, MetricSelector: s.Metric.Selector, CurrentAverageValue: s.Current.AverageValue}
		if s.Current.Value != nil {
			e.CurrentValue = *s.Current.Value
		}
		out.External = e
	}
	return out
}

// metricStatusToV2 is Kubernetes' v1-to-autoscaling MetricStatus
// conversion.
func metricStatusToV2(m autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(m.Type)}
	if s := m.Object; s != nil {
		out.Object = &autoscalingv2.ObjectMetricStatus{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(s.Target),
			Metric:          autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Current:         autoscalingv2.MetricValueStatus{Value: ptr.To(s.CurrentValue), AverageValue: s.AverageValue},
		}
	}
	if s := m.Pods; s != nil {
		out.Pods = &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.Selector},
			Current: autoscalingv2.MetricValueStatus{AverageValue: ptr.To(s.CurrentAverageValue)},
		}
	}
	if s := m.Resource; s != nil {
		out.Resource = &autoscalingv2.ResourceMetricStatus{
			Name:    s.Name,
			Current: autoscalingv2.MetricValueStatus{AverageValue: ptr.To(s.CurrentAverageValue), AverageUtilization: s.CurrentAverageUtilization},
		}
	}
	if s := m.ContainerResource; s != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{
			Name: s.Name, Container: s.Container,
			Current: autoscalingv2.MetricValueStatus{AverageValue: ptr.To(s.CurrentAverageValue), AverageUtilization: s.CurrentAverageUtilization},
		}
	}
	if s := m.External; s != nil {
		out.External = &autoscalingv2.ExternalMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: s.MetricName, Selector: s.MetricSelector},
			Current: autoscalingv2.MetricValueStatus{Value: ptr.To(s.CurrentValue), AverageValue: s.CurrentAverageValue},
		}
	}
	return out
}
