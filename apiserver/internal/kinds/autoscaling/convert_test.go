package autoscaling

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func v2HPA(mutate func(*autoscalingv2.HorizontalPodAutoscaler)) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{"team": "a"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](2),
			MaxReplicas:    10,
			Metrics:        []autoscalingv2.MetricSpec{cpuUtilization(60)},
		},
	}
	if mutate != nil {
		mutate(h)
	}
	return h
}

func TestHPAToV1(t *testing.T) {
	q := resource.MustParse("100m")
	tests := []struct {
		name       string
		in         *autoscalingv2.HorizontalPodAutoscaler
		wantCPU    *int32
		wantStatus *int32
		// wantAnnotations names the round-trip annotations the result
		// must carry, and no others.
		wantAnnotations []string
	}{
		{"a CPU utilization target is v1's field", v2HPA(nil), ptr.To[int32](60), nil, nil},
		{"other metrics go into an annotation", v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType,
				Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}})
		}), ptr.To[int32](60), nil, []string{MetricSpecsAnnotation}},
		{"a memory target alone leaves targetCPUUtilizationPercentage unset", v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}}
		}), nil, nil, []string{MetricSpecsAnnotation}},
		{"status metrics and conditions go into annotations, CPU also into its field", v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
					Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](40), AverageValue: &q}}}}
			h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"}}
		}), ptr.To[int32](60), ptr.To[int32](40), []string{MetricStatusesAnnotation, ConditionsAnnotation}},
		{"a behavior goes into an annotation", v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr.To[int32](60),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 30}}}}
		}), ptr.To[int32](60), nil, []string{BehaviorSpecsAnnotation}},
		{"stale round-trip annotations are not kept", v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Annotations[ConditionsAnnotation] = "[]"
			h.Annotations[MetricSpecsAnnotation] = "garbage"
		}), ptr.To[int32](60), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.DeepCopy()
			got, err := HPAToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, tt.in); diff != "" {
				t.Errorf("the input changed (-before +after):\n%s", diff)
			}
			if got.APIVersion != "autoscaling/v1" {
				t.Errorf("apiVersion = %q", got.APIVersion)
			}
			if !cmp.Equal(got.Spec.TargetCPUUtilizationPercentage, tt.wantCPU) {
				t.Errorf("targetCPUUtilizationPercentage = %v, want %v", ptr.Deref(got.Spec.TargetCPUUtilizationPercentage, -1), ptr.Deref(tt.wantCPU, -1))
			}
			if !cmp.Equal(got.Status.CurrentCPUUtilizationPercentage, tt.wantStatus) {
				t.Errorf("currentCPUUtilizationPercentage = %v, want %v", ptr.Deref(got.Status.CurrentCPUUtilizationPercentage, -1), ptr.Deref(tt.wantStatus, -1))
			}
			for _, k := range roundTripAnnotations {
				_, has := got.Annotations[k]
				want := false
				for _, w := range tt.wantAnnotations {
					want = want || w == k
				}
				if has != want {
					t.Errorf("annotation %s present = %v, want %v (%v)", k, has, want, got.Annotations)
				}
			}
			if got.Annotations["team"] != "a" {
				t.Errorf("the object's own annotation was lost: %v", got.Annotations)
			}
		})
	}
}

// TestHPARoundTrip: what v2 says survives a trip through v1 and back,
// as Kubernetes' conversions guarantee.
func TestHPARoundTrip(t *testing.T) {
	q, v := resource.MustParse("100m"), resource.MustParse("2")
	now := metav1.NewTime(time.Unix(1700000000, 0))
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tests := []struct {
		name string
		in   *autoscalingv2.HorizontalPodAutoscaler
	}{
		{"CPU only", v2HPA(nil)},
		{"every metric source, the CPU target last", v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "qps", Selector: sel},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
					DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "main"},
					Metric:          autoscalingv2.MetricIdentifier{Name: "requests"},
					Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: &v}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &v}}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name: corev1.ResourceCPU, Container: "app",
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}},
				cpuUtilization(50),
			}
		})},
		{"behavior, status metrics and conditions", v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			tol := resource.MustParse("50m")
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: ptr.To(autoscalingv2.MaxChangePolicySelect),
					Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}, Tolerance: &tol},
			}
			h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
				ObservedGeneration: ptr.To[int64](3), LastScaleTime: &now, CurrentReplicas: 3, DesiredReplicas: 4,
				CurrentMetrics: []autoscalingv2.MetricStatus{
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
						Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](40), AverageValue: &q}}},
					{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
						Current: autoscalingv2.MetricValueStatus{AverageValue: &v}}},
				},
				Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "ValidMetricFound", Message: "ok", ObservedGeneration: ptr.To[int64](3)},
				},
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v1, err := HPAToV1(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			back, err := HPAToV2(v1)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.in, back, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("v2 -> v1 -> v2 lost something (-want +got):\n%s", diff)
			}
			again, err := HPAToV1(back)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(v1, again); diff != "" {
				t.Errorf("v1 -> v2 -> v1 changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHPAToV2(t *testing.T) {
	v1 := func(mutate func(*autoscalingv1.HorizontalPodAutoscaler)) *autoscalingv1.HorizontalPodAutoscaler {
		h := &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MaxReplicas:    3,
			},
		}
		mutate(h)
		return h
	}
	tests := []struct {
		name string
		in   *autoscalingv1.HorizontalPodAutoscaler
		want []autoscalingv2.MetricSpec
	}{
		{"no target is v1's implicit 80% CPU", v1(func(*autoscalingv1.HorizontalPodAutoscaler) {}),
			[]autoscalingv2.MetricSpec{cpuUtilization(80)}},
		{"targetCPUUtilizationPercentage is a CPU utilization metric", v1(func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](50)
		}), []autoscalingv2.MetricSpec{cpuUtilization(50)}},
		{"annotated metrics come first, the CPU target after them", v1(func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](50)
			h.Annotations = map[string]string{MetricSpecsAnnotation: `[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"1Gi"}}]`}
		}), []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("1Gi"))}}},
			cpuUtilization(50)}},
		{"an annotation that does not parse is ignored", v1(func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Annotations = map[string]string{MetricSpecsAnnotation: `{not json`}
		}), []autoscalingv2.MetricSpec{cpuUtilization(80)}},
		{"an object metric with an average keeps no zero value", v1(func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](50)
			h.Annotations = map[string]string{MetricSpecsAnnotation: `[{"type":"Object","object":{"target":{"kind":"Service","name":"web"},"metricName":"rps","targetValue":"0","averageValue":"10"}}]`}
		}), []autoscalingv2.MetricSpec{{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Service", Name: "web"},
			Metric:          autoscalingv2.MetricIdentifier{Name: "rps"},
			Target:          autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))}}},
			cpuUtilization(50)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HPAToV2(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Spec.Metrics, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
			for _, k := range roundTripAnnotations {
				if _, ok := got.Annotations[k]; ok {
					t.Errorf("annotation %s kept in v2", k)
				}
			}
		})
	}
}

// TestHPABehaviorAnnotation: the behavior annotation is the JSON
// Kubernetes writes, its internal type's field names, so HPAs written by
// either server read the same.
func TestHPABehaviorAnnotation(t *testing.T) {
	h := v2HPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](60),
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 30}}}}
	})
	v1, err := HPAToV1(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":60,"SelectPolicy":null,"Policies":[{"Type":"Pods","Value":1,"PeriodSeconds":30}],"Tolerance":null}}`
	if got := v1.Annotations[BehaviorSpecsAnnotation]; got != want {
		t.Errorf("behavior annotation\n got %s\nwant %s", got, want)
	}
}
