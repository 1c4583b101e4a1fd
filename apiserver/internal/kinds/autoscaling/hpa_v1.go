package autoscaling

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
)

// hpaV1Strategy applies autoscaling/v2's rules to autoscaling/v1 objects,
// as Kubernetes applies one strategy to every version of a resource (on
// its internal type, which v2 mirrors): each method converts to v2, and
// back when it changes the object. Field paths in errors are therefore
// v2's (spec.metrics[0]...), as Kubernetes reports them.
type hpaV1Strategy struct{ apiresource.DefaultStrategy }

var (
	_ apiresource.Strategy            = hpaV1Strategy{}
	_ apiresource.SubresourceStrategy = hpaV1Strategy{}
)

func (hpaV1Strategy) Default(obj runtime.Object) {
	h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	// autoscaling/v1's own default; the CPU target v1 implies is the
	// conversion's.
	if h.Spec.MinReplicas == nil {
		h.Spec.MinReplicas = ptr.To[int32](1)
	}
	throughV2(h, nil, func(v2, _ *autoscalingv2.HorizontalPodAutoscaler) { defaultHPA(v2) })
}

func (hpaV1Strategy) PrepareForCreate(obj runtime.Object) {
	throughV2(obj, nil, func(v2, _ *autoscalingv2.HorizontalPodAutoscaler) { hpaStrategy{}.PrepareForCreate(v2) })
}

// PrepareForUpdate keeps the status, which through v1 is partly in
// annotations the client may have sent stale or not at all.
func (hpaV1Strategy) PrepareForUpdate(obj, old runtime.Object) {
	throughV2(obj, old, func(v2, oldV2 *autoscalingv2.HorizontalPodAutoscaler) {
		hpaStrategy{}.PrepareForUpdate(v2, oldV2)
		v2.Status = oldV2.Status
	})
}

func (hpaV1Strategy) Validate(obj runtime.Object) field.ErrorList {
	v2, err := HPAToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return hpaStrategy{}.Validate(v2)
}

func (s hpaV1Strategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return s.Validate(obj)
}

// PrepareForSubresourceUpdate keeps the spec on a status write, the
// metrics and behavior v1 keeps in annotations included.
func (hpaV1Strategy) PrepareForSubresourceUpdate(_ string, obj, old runtime.Object) {
	throughV2(obj, old, func(v2, oldV2 *autoscalingv2.HorizontalPodAutoscaler) { v2.Spec = oldV2.Spec })
}

func (hpaV1Strategy) ValidateSubresourceUpdate(_ string, obj, old runtime.Object) field.ErrorList {
	v2, err := HPAToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldV2, err := HPAToV2(old.(*autoscalingv1.HorizontalPodAutoscaler))
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return hpaStrategy{}.ValidateStatusUpdate(v2, oldV2)
}

// throughV2 changes the autoscaling/v1 obj with change applied to it as
// autoscaling/v2 (old too, when not nil, unchanged), in place. The
// conversions cannot fail on objects the API decoded; should one, obj is
// left as it was and validation, which converts again, reports it.
func throughV2(obj, old runtime.Object, change func(v2, oldV2 *autoscalingv2.HorizontalPodAutoscaler)) {
	h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	v2, err := HPAToV2(h)
	if err != nil {
		return
	}
	var oldV2 *autoscalingv2.HorizontalPodAutoscaler
	if old != nil {
		if oldV2, err = HPAToV2(old.(*autoscalingv1.HorizontalPodAutoscaler)); err != nil {
			return
		}
	}
	change(v2, oldV2)
	back, err := HPAToV1(v2)
	if err != nil {
		return
	}
	typeMeta := h.TypeMeta
	*h = *back
	h.TypeMeta = typeMeta
}
