// Package autoscaling defines HorizontalPodAutoscalers, served as
// autoscaling/v2 (the preferred version, and the form they are stored
// in) and as autoscaling/v1, whose objects are the same objects
// converted.
package autoscaling

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// All returns the autoscaling kinds, v2 first: the resource's storage
// version, which finds it by group and resource.
func All() []*apiresource.Descriptor {
	return []*apiresource.Descriptor{HorizontalPodAutoscalers(), HorizontalPodAutoscalersV1()}
}

// HorizontalPodAutoscalers (autoscaling/v2).
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

// HorizontalPodAutoscalersV1 are the autoscaling/v1 view of the same
// objects: stored as autoscaling/v2, with what v1 cannot say kept in
// annotations (HPAToV1), and printed with v2's columns.
func HorizontalPodAutoscalersV1() *apiresource.Descriptor {
	d := apiresource.NewDescriptor(autoscalingv1.SchemeGroupVersion, "horizontalpodautoscalers",
		&autoscalingv1.HorizontalPodAutoscaler{}, &autoscalingv1.HorizontalPodAutoscalerList{})
	d.Namespaced = true
	d.ShortNames = []string{"hpa"}
	d.Categories = []string{"all"}
	d.Strategy = hpaV1Strategy{}
	d.Subresources = []string{apiresource.Status}
	d.Storage = apiresource.StoredAs(autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), HPAToV2, HPAToV1)
	d.Table = apiresource.ConvertedTable(printers.HorizontalPodAutoscaler(), d.Storage.To)
	return d
}
