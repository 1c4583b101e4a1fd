package autoscaling

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/kinds/kindstest"
)

func newHPAV1() *autoscalingv1.HorizontalPodAutoscaler {
	return &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    5,
		},
	}
}

func TestHPAV1Defaults(t *testing.T) {
	h := newHPAV1()
	HorizontalPodAutoscalersV1().Strategy.Default(h)
	if ptr.Deref(h.Spec.MinReplicas, 0) != 1 {
		t.Errorf("minReplicas = %v, want 1", h.Spec.MinReplicas)
	}
	if ptr.Deref(h.Spec.TargetCPUUtilizationPercentage, 0) != 80 {
		t.Errorf("targetCPUUtilizationPercentage = %v, want v1's implicit 80", h.Spec.TargetCPUUtilizationPercentage)
	}
	if h.APIVersion != "autoscaling/v1" || h.Kind != "HorizontalPodAutoscaler" {
		t.Errorf("type meta = %+v", h.TypeMeta)
	}
	if len(h.Annotations) != 0 {
		t.Errorf("annotations = %v, want none for a CPU-only HPA", h.Annotations)
	}
}

// TestHPAV1Validate: v1 objects are validated as v2, with v2's paths.
func TestHPAV1Validate(t *testing.T) {
	kindstest.Create(t, HorizontalPodAutoscalersV1().Strategy, newHPAV1, []kindstest.Case[*autoscalingv1.HorizontalPodAutoscaler]{
		{Name: "defaulted HPA is valid", Mutate: func(*autoscalingv1.HorizontalPodAutoscaler) {}},
		{Name: "target name is required", Mutate: func(h *autoscalingv1.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" },
			Path: "spec.scaleTargetRef.name", Type: field.ErrorTypeRequired},
		{Name: "maxReplicas may not be below minReplicas", Mutate: func(h *autoscalingv1.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To[int32](6) },
			Path: "spec.maxReplicas", Type: field.ErrorTypeInvalid},
		{Name: "CPU target must be positive", Mutate: func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](0)
		},
			Path: "spec.metrics[0].resource.target.averageUtilization", Type: field.ErrorTypeInvalid},
		{Name: "an annotated metric is validated too", Mutate: func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Annotations = map[string]string{MetricSpecsAnnotation: `[{"type":"Pods","pods":{"metricName":"","targetAverageValue":"1"}}]`}
		}, Path: "spec.metrics[0].pods.metric.name", Type: field.ErrorTypeRequired},
	})
}

func TestHPAV1Updates(t *testing.T) {
	s := HorizontalPodAutoscalersV1().Strategy
	q := resource.MustParse("3")
	stored := v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType,
			Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}})
		h.Status.DesiredReplicas = 4
		h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue}}
	})
	old, err := HPAToV1(stored)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("an update keeps the status, the annotated part too", func(t *testing.T) {
		obj := old.DeepCopy()
		obj.Spec.MaxReplicas = 20
		delete(obj.Annotations, ConditionsAnnotation)
		obj.Status = autoscalingv1.HorizontalPodAutoscalerStatus{}
		s.PrepareForUpdate(obj, old)
		v2, _ := HPAToV2(obj)
		if v2.Spec.MaxReplicas != 20 || v2.Status.DesiredReplicas != 4 || len(v2.Status.Conditions) != 1 || len(v2.Spec.Metrics) != 2 {
			t.Errorf("after the update: spec %+v, status %+v", v2.Spec, v2.Status)
		}
	})
	t.Run("a status write keeps the spec, the annotated metrics too", func(t *testing.T) {
		obj := old.DeepCopy()
		delete(obj.Annotations, MetricSpecsAnnotation)
		obj.Status.DesiredReplicas = 7
		s.(apiresource.SubresourceStrategy).PrepareForSubresourceUpdate("status", obj, old)
		v2, _ := HPAToV2(obj)
		if len(v2.Spec.Metrics) != 2 || v2.Status.DesiredReplicas != 7 {
			t.Errorf("after the status write: metrics %+v, status %+v", v2.Spec.Metrics, v2.Status)
		}
		if errs := s.(apiresource.SubresourceStrategy).ValidateSubresourceUpdate("status", obj, old); len(errs) != 0 {
			t.Errorf("status write: %v", errs)
		}
	})
}
