// Package autoscaling defines autoscaling/v2 HorizontalPodAutoscalers.
package autoscaling

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the autoscaling/v2 kinds.
func All() []*apiresource.Descriptor { return []*apiresource.Descriptor{HorizontalPodAutoscalers()} }

// HorizontalPodAutoscalers.
func HorizontalPodAutoscalers() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(autoscalingv2.SchemeGroupVersion, "horizontalpodautoscalers",
		&autoscalingv2.HorizontalPodAutoscaler{}, &autoscalingv2.HorizontalPodAutoscalerList{})
	d.Namespaced = true
	d.ShortNames = []string{"hpa"}
	d.Categories = []string{"all"}
	d.Strategy = hpaStrategy{}
	d.Subresources = []string{apiresource.Status}
	d.Table = printers.HorizontalPodAutoscaler()
	return d
}
