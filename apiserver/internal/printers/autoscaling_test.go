package printers

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func qty(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func cpuUtilization(target int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
	}}
}

func cpuUtilizationStatus(current int32) autoscalingv2.MetricStatus {
	return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &current},
	}}
}

func TestHPATargets(t *testing.T) {
	memory := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("200Mi")},
	}}
	pods := autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{AverageValue: qty("100")},
	}}
	external := autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Target: autoscalingv2.MetricTarget{AverageValue: qty("30")},
	}}
	object := autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "hits"}, Target: autoscalingv2.MetricTarget{Value: qty("2k")},
	}}
	container := autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
		Name: corev1.ResourceCPU, Container: "app", Target: autoscalingv2.MetricTarget{},
	}}
	tests := []struct {
		name     string
		specs    []autoscalingv2.MetricSpec
		statuses []autoscalingv2.MetricStatus
		want     string
	}{
		{"no metrics", nil, nil, "<none>"},
		{"cpu utilization not yet measured", []autoscalingv2.MetricSpec{cpuUtilization(80)}, nil, "cpu: <unknown>/80%"},
		{"cpu utilization measured", []autoscalingv2.MetricSpec{cpuUtilization(80)}, []autoscalingv2.MetricStatus{cpuUtilizationStatus(42)}, "cpu: 42%/80%"},
		{"resource average value", []autoscalingv2.MetricSpec{memory}, []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
				Name: corev1.ResourceMemory, Current: autoscalingv2.MetricValueStatus{AverageValue: qty("150Mi")},
			},
		}}, "memory: 150Mi/200Mi"},
		{"pods metric", []autoscalingv2.MetricSpec{pods}, nil, "<unknown>/100"},
		{"external average value", []autoscalingv2.MetricSpec{external}, []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: qty("12")}},
		}}, "12/30 (avg)"},
		{"object value", []autoscalingv2.MetricSpec{object}, []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{Current: autoscalingv2.MetricValueStatus{Value: qty("1500")}},
		}}, "1500/2k"},
		{"container resource without target is auto", []autoscalingv2.MetricSpec{container}, nil, "cpu: <unknown>/<auto>"},
		{"two shown, the rest counted", []autoscalingv2.MetricSpec{cpuUtilization(80), memory, pods, external},
			[]autoscalingv2.MetricStatus{cpuUtilizationStatus(10)}, "cpu: 10%/80%, memory: <unknown>/200Mi + 2 more..."},
		{"unknown metric type", []autoscalingv2.MetricSpec{{Type: "Bogus"}}, nil, "<unknown type>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hpaTargets(tt.specs, tt.statuses); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHPACells(t *testing.T) {
	tests := []struct {
		name string
		hpa  autoscalingv2.HorizontalPodAutoscaler
		want []interface{}
	}{
		{"scaling a deployment on cpu", autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: meta("web"),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
				MinReplicas:    ptr(int32(2)), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{cpuUtilization(80)},
			},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: []autoscalingv2.MetricStatus{cpuUtilizationStatus(55)}},
		}, []interface{}{"web", "Deployment/web", "cpu: 55%/80%", "2", int64(10), int64(3), "10d"}},
		{"unset min replicas", autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: meta("api"),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "api"}, MaxReplicas: 4,
			},
		}, []interface{}{"api", "StatefulSet/api", "<none>", "<unset>", int64(4), int64(0), "10d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, hpaCells(&tt.hpa, testNow()), tt.want)
		})
	}
}
