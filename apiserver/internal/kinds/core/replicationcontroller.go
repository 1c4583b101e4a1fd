package core

import (
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/printers"
)

// ReplicationControllers: the ReplicaSet's predecessor, with an equality
// selector (a plain label map). The controller manager runs them with the
// ReplicaSet controller's logic.
func ReplicationControllers() *apiresource.Descriptor {
	d := core("replicationcontrollers", &corev1.ReplicationController{}, &corev1.ReplicationControllerList{})
	d.ShortNames = []string{"rc"}
	d.Categories = []string{"all"}
	d.TracksGeneration = true
	d.Strategy = replicationControllerStrategy{}
	d.Subresources = []string{apiresource.Status, apiresource.Scale}
	d.Table = printers.ReplicationController()
	d.FieldLabels = []string{"status.replicas"}
	d.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.replicas": strconv.FormatInt(int64(obj.(*corev1.ReplicationController).Status.Replicas), 10)}
	}
	d.Scale = apiresource.ScaleOf(func(rc *corev1.ReplicationController) (**int32, int32, string) {
		return &rc.Spec.Replicas, rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String()
	})
	return d
}

// replicationControllerStrategy: defaults and validation as Kubernetes'
// core/v1. Unlike a ReplicaSet's, the selector may change after creation.
type replicationControllerStrategy struct{ apiresource.DefaultStrategy }

// Default fills an empty selector, and empty labels, from the template's
// labels: `kubectl create` of an RC usually names its labels only once.
func (replicationControllerStrategy) Default(obj runtime.Object) {
	rc := obj.(*corev1.ReplicationController)
	if t := rc.Spec.Template; t != nil {
		if t.Labels != nil {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = maps.Clone(t.Labels)
			}
			if len(rc.Labels) == 0 {
				rc.Labels = maps.Clone(t.Labels)
			}
		}
		DefaultPodTemplateSpec(t)
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptr.To[int32](1)
	}
}

func (replicationControllerStrategy) PrepareForCreate(obj runtime.Object) {
	obj.(*corev1.ReplicationController).Status = corev1.ReplicationControllerStatus{}
}

func (replicationControllerStrategy) Validate(obj runtime.Object) field.ErrorList {
	return validateReplicationControllerSpec(&obj.(*corev1.ReplicationController).Spec)
}

func (replicationControllerStrategy) ValidateUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateReplicationControllerSpec(&obj.(*corev1.ReplicationController).Spec)
}

func (replicationControllerStrategy) ValidateStatusUpdate(obj, _ runtime.Object) field.ErrorList {
	return validateReplicationControllerStatus(&obj.(*corev1.ReplicationController).Status)
}

func validateReplicationControllerSpec(spec *corev1.ReplicationControllerSpec) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	if len(spec.Selector) == 0 {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabels(spec.Selector, p.Child("selector"))...)
	}
	if spec.Replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.Replicas), p.Child("replicas"))...)
	}
	if spec.Template == nil {
		return append(errs, field.Required(p.Child("template"), ""))
	}
	return append(errs, ValidateReplicatedTemplate(spec.Template, labels.SelectorFromSet(spec.Selector), p.Child("template"), "ReplicationController")...)
}

func validateReplicationControllerStatus(st *corev1.ReplicationControllerStatus) field.ErrorList {
	p := field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		v    int32
		name string
	}{{st.Replicas, "replicas"}, {st.FullyLabeledReplicas, "fullyLabeledReplicas"}, {st.ReadyReplicas, "readyReplicas"}, {st.AvailableReplicas, "availableReplicas"}} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(c.v), p.Child(c.name))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(st.ObservedGeneration, p.Child("observedGeneration"))...)
	for _, c := range []struct {
		v, limit        int32
		name, limitName string
	}{
		{st.FullyLabeledReplicas, st.Replicas, "fullyLabeledReplicas", "status.replicas"},
		{st.ReadyReplicas, st.Replicas, "readyReplicas", "status.replicas"},
		{st.AvailableReplicas, st.Replicas, "availableReplicas", "status.replicas"},
		{st.AvailableReplicas, st.ReadyReplicas, "availableReplicas", "readyReplicas"},
	} {
		if c.v > c.limit {
			errs = append(errs, field.Invalid(p.Child(c.name), c.v, "cannot be greater than "+c.limitName))
		}
	}
	return errs
}
