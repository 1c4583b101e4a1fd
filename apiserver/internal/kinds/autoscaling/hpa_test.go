package autoscaling

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    5,
		},
	}
}

func TestHPADefaults(t *testing.T) {
	h := newHPA()
	HorizontalPodAutoscalers().Strategy.Default(h)
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 1 {
		t.Errorf("minReplicas = %v, want 1", h.Spec.MinReplicas)
	}
	m := h.Spec.Metrics
	if len(m) != 1 || m[0].Resource == nil || m[0].Resource.Name != corev1.ResourceCPU ||
		m[0].Resource.Target.AverageUtilization == nil || *m[0].Resource.Target.AverageUtilization != 80 {
		t.Errorf("metrics = %+v, want CPU at 80%% utilization", m)
	}
	if h.Spec.Behavior != nil {
		t.Errorf("an unset behavior was defaulted; the controller's flags apply")
	}

	withBehavior := newHPA()
	withBehavior.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](60)},
	}
	HorizontalPodAutoscalers().Strategy.Default(withBehavior)
	b := withBehavior.Spec.Behavior
	if b.ScaleUp == nil || len(b.ScaleUp.Policies) != 2 || *b.ScaleUp.StabilizationWindowSeconds != 0 {
		t.Errorf("scaleUp = %+v, want Kubernetes' two policies and no window", b.ScaleUp)
	}
	if *b.ScaleDown.StabilizationWindowSeconds != 60 || len(b.ScaleDown.Policies) != 1 || *b.ScaleDown.SelectPolicy != autoscalingv2.MaxChangePolicySelect {
		t.Errorf("scaleDown = %+v, want the client's window completed with Kubernetes' policy", b.ScaleDown)
	}
}

func TestHPAValidate(t *testing.T) {
	resourceMetric := func(target autoscalingv2.MetricTarget) []autoscalingv2.MetricSpec {
		return []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: target}}}
	}
	tests := []struct {
		name   string
		mutate func(*autoscalingv2.HorizontalPodAutoscaler)
		path   string
		typ    field.ErrorType
	}{
		{"defaulted HPA is valid", func(*autoscalingv2.HorizontalPodAutoscaler) {}, "", ""},
		{"target kind is required", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "" }, "spec.scaleTargetRef.kind", field.ErrorTypeRequired},
		{"target name is required", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" }, "spec.scaleTargetRef.name", field.ErrorTypeRequired},
		{"target name must be a path segment", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "a/b" }, "spec.scaleTargetRef.name", field.ErrorTypeInvalid},
		{"minReplicas must be at least 1", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](0) }, "spec.minReplicas", field.ErrorTypeInvalid},
		{"maxReplicas must be at least 1", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MaxReplicas = 0
			h.Spec.MinReplicas = ptr.To[int32](1)
		}, "spec.maxReplicas", field.ErrorTypeInvalid},
		{"maxReplicas may not be below minReplicas", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](6) }, "spec.maxReplicas", field.ErrorTypeInvalid},
		{"metric type is required", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{}}
		}, "spec.metrics[0].type", field.ErrorTypeRequired},
		{"unknown metric type is not supported", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: "Custom"}}
		}, "spec.metrics[0].type", field.ErrorTypeNotSupported},
		{"metric type needs its source", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}}
		}, "spec.metrics[0].pods", field.ErrorTypeRequired},
		{"metric may fill only its own source", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = resourceMetric(autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)})
			h.Spec.Metrics[0].External = &autoscalingv2.ExternalMetricSource{}
		}, "spec.metrics[0].external", field.ErrorTypeForbidden},
		{"resource target needs utilization or value", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = resourceMetric(autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType})
		}, "spec.metrics[0].resource.target.averageUtilization", field.ErrorTypeRequired},
		{"utilization must be positive", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = resourceMetric(autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](0)})
		}, "spec.metrics[0].resource.target.averageUtilization", field.ErrorTypeInvalid},
		{"average value must be positive", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = resourceMetric(autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("-1"))})
		}, "spec.metrics[0].resource.target.averageValue", field.ErrorTypeInvalid},
		{"target type is required", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = resourceMetric(autoscalingv2.MetricTarget{AverageValue: ptr.To(resource.MustParse("1Gi"))})
		}, "spec.metrics[0].resource.target.type", field.ErrorTypeRequired},
		{"pods metric needs a name", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))}}}}
		}, "spec.metrics[0].pods.metric.name", field.ErrorTypeRequired},
		{"container resource needs a container", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](60)}}}}
		}, "spec.metrics[0].containerResource.container", field.ErrorTypeRequired},
		{"scaling rules need a policy", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{}}}
		}, "spec.behavior.scaleUp.policies", field.ErrorTypeRequired},
		{"stabilization window is at most an hour", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](3601)}}
		}, "spec.behavior.scaleDown.stabilizationWindowSeconds", field.ErrorTypeInvalid},
		{"policy period is at most 30 minutes", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 1801}}}}
		}, "spec.behavior.scaleDown.policies[0].periodSeconds", field.ErrorTypeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHPA()
			tt.mutate(h)
			s := HorizontalPodAutoscalers().Strategy
			s.Default(h)
			kindstest.WantErr(t, s.Validate(h), tt.path, tt.typ)
			kindstest.WantErr(t, s.ValidateUpdate(h, newHPA()), tt.path, tt.typ)
		})
	}
}

func TestHPAStatus(t *testing.T) {
	s := HorizontalPodAutoscalers().Strategy
	h := newHPA()
	h.Status.DesiredReplicas = -1
	kindstest.WantErr(t, s.ValidateStatusUpdate(h, newHPA()), "status.desiredReplicas", field.ErrorTypeInvalid)
	s.PrepareForCreate(h)
	if h.Status.DesiredReplicas != 0 {
		t.Errorf("create kept the client's status")
	}
}
