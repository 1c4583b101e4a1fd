// Package autoscaling defines autoscaling/v2 HorizontalPodAutoscalers.
package autoscaling

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/printers"
	"coracle.dev/apiserver/internal/resource"
)

// All returns the autoscaling/v2 kinds.
func All() []*resource.Descriptor { return []*resource.Descriptor{HorizontalPodAutoscalers()} }

// HorizontalPodAutoscalers.
func HorizontalPodAutoscalers() *resource.Descriptor {
	return &resource.Descriptor{
		Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Resource: "horizontalpodautoscalers",
		Singular: "horizontalpodautoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"},
		New:          func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		NewList:      func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		Strategy:     hpaStrategy{},
		Subresources: []string{resource.Status},
		Table:        printers.HorizontalPodAutoscaler(),
	}
}
