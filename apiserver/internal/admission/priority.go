// Package admission holds the checks and mutations Kubernetes runs on
// objects after decoding and before storing them, for those that need to
// read other objects (a strategy sees only the object itself).
package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PriorityClasses reads PriorityClasses.
type PriorityClasses interface {
	// Get returns the class, or a NotFound error.
	Get(ctx context.Context, name string) (*schedulingv1.PriorityClass, error)
	// GlobalDefault returns the class marked globalDefault, or nil.
	GlobalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error)
}

// Priority resolves a new pod's priorityClassName into spec.priority and
// spec.preemptionPolicy, as Kubernetes' Priority admission plugin does.
type Priority struct {
	Classes PriorityClasses
}

var podsResource = schema.GroupResource{Resource: "pods"}

// AdmitCreate implements genericstore.Admitter.
func (p *Priority) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	var class *schedulingv1.PriorityClass
	var err error
	if pod.Spec.PriorityClassName != "" {
		class, err = p.Classes.Get(ctx, pod.Spec.PriorityClassName)
		if apierrors.IsNotFound(err) {
			return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("no PriorityClass with name %s was found", pod.Spec.PriorityClassName))
		}
	} else {
		class, err = p.Classes.GlobalDefault(ctx)
	}
	if err != nil {
		return err
	}
	priority := int32(0)
	policy := corev1.PreemptLowerPriority
	if class != nil {
		priority = class.Value
		if class.PreemptionPolicy != nil {
			policy = *class.PreemptionPolicy
		}
		pod.Spec.PriorityClassName = class.Name
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority))
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.Priority = &priority
	pod.Spec.PreemptionPolicy = &policy
	return nil
}
