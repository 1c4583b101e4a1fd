package admission

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
)

// RuntimeClasses reads node.k8s.io RuntimeClasses.
type RuntimeClasses interface {
	// Get returns the class, or a NotFound error.
	Get(ctx context.Context, name string) (*nodev1.RuntimeClass, error)
}

// RuntimeClass takes a new pod's spec.runtimeClassName into account, as
// Kubernetes' RuntimeClass admission plugin does: a pod naming a class
// that does not exist is refused; one naming a class with an overhead
// gets it as spec.overhead, which only this plugin may set (a pod that
// brings its own is refused unless it is the class's); and the class's
// scheduling constraints join the pod's node selector and tolerations,
// so the pod lands only where the class's handler is installed.
//
// It acts on creates only: a pod's runtime class, overhead and node
// selector cannot change afterwards.
type RuntimeClass struct {
	Classes RuntimeClasses
}

// AdmitCreate implements genericstore.Admitter: the mutating phase.
func (r *RuntimeClass) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	class, err := r.class(ctx, pod)
	if err != nil {
		return err
	}
	if err := setOverhead(pod, class); err != nil {
		return err
	}
	return setScheduling(pod, class)
}

// ValidateCreate implements genericstore.CreateValidator: the validating
// phase, which runs after every mutation (a mutating webhook's too), so
// the overhead the pod is stored with is the class's and nothing else.
func (r *RuntimeClass) ValidateCreate(ctx context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	class, err := r.class(ctx, pod)
	if err != nil {
		return err
	}
	return validateOverhead(pod, class)
}

// class is the RuntimeClass pod names, nil when it names none. The read
// goes to storage rather than a cache, as Kubernetes falls back to a live
// read when its informer misses: a class created a moment ago must not
// make its first pod fail.
func (r *RuntimeClass) class(ctx context.Context, pod *corev1.Pod) (*nodev1.RuntimeClass, error) {
	if pod.Spec.RuntimeClassName == nil {
		return nil, nil
	}
	class, err := r.Classes.Get(ctx, *pod.Spec.RuntimeClassName)
	if apierrors.IsNotFound(err) {
		return nil, podForbidden(pod, fmt.Errorf("pod rejected: RuntimeClass %q not found", *pod.Spec.RuntimeClassName))
	}
	return class, err
}

// setOverhead gives pod the class's fixed overhead, refusing a pod that
// already has a different one.
func setOverhead(pod *corev1.Pod, class *nodev1.RuntimeClass) error {
	if class == nil || class.Overhead == nil {
		return nil
	}
	want := class.Overhead.PodFixed
	if len(pod.Spec.Overhead) > 0 && !apiequality.Semantic.DeepEqual(want, pod.Spec.Overhead) {
		return podForbidden(pod, fmt.Errorf("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"))
	}
	pod.Spec.Overhead = want.DeepCopy()
	return nil
}

// setScheduling merges the class's node selector into the pod's, refusing
// a pod that asks for another value of one of its labels, and adds the
// class's tolerations to the pod's.
func setScheduling(pod *corev1.Pod, class *nodev1.RuntimeClass) error {
	if class == nil || class.Scheduling == nil {
		return nil
	}
	selector := class.Scheduling.NodeSelector
	if pod.Spec.NodeSelector == nil {
		pod.Spec.NodeSelector = maps.Clone(selector)
	} else {
		// In key order, so that of several conflicts the same one is
		// always reported.
		for _, key := range slices.Sorted(maps.Keys(selector)) {
			classValue := selector[key]
			if podValue, ok := pod.Spec.NodeSelector[key]; ok && podValue != classValue {
				return podForbidden(pod, fmt.Errorf("conflict: runtimeClass.scheduling.nodeSelector[%s] = %s; pod.spec.nodeSelector[%s] = %s", key, classValue, key, podValue))
			}
		}
		for key, value := range selector {
			pod.Spec.NodeSelector[key] = value
		}
	}
	pod.Spec.Tolerations = mergeTolerations(pod.Spec.Tolerations, class.Scheduling.Tolerations)
	return nil
}

// validateOverhead refuses a pod whose overhead is not its class's: one
// whose class defines none must have none.
func validateOverhead(pod *corev1.Pod, class *nodev1.RuntimeClass) error {
	if class != nil && class.Overhead != nil {
		if !apiequality.Semantic.DeepEqual(class.Overhead.PodFixed, pod.Spec.Overhead) {
			return podForbidden(pod, fmt.Errorf("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"))
		}
		return nil
	}
	if pod.Spec.Overhead != nil {
		return podForbidden(pod, fmt.Errorf("pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"))
	}
	return nil
}

// podForbidden is admission's Forbidden error for pod, named as
// Kubernetes names the object of a refused create: by its name, else by
// its generateName.
func podForbidden(pod *corev1.Pod, err error) error {
	name := pod.Name
	if name == "" {
		name = pod.GenerateName
	}
	if name == "" {
		name = "Unknown"
	}
	return apierrors.NewForbidden(podsResource, name, err)
}

// mergeTolerations is first followed by second, less each toleration
// another one in the list already covers (of equal ones, the first is
// kept), as Kubernetes' pkg/util/tolerations merges them.
func mergeTolerations(first, second []corev1.Toleration) []corev1.Toleration {
	all := slices.Concat(first, second)
	var merged []corev1.Toleration
next:
	for i, t := range all {
		for _, kept := range merged {
			if tolerationCovers(kept, t) {
				continue next
			}
		}
		for _, later := range all[i+1:] {
			if !apiequality.Semantic.DeepEqual(t, later) && tolerationCovers(later, t) {
				continue next
			}
		}
		merged = append(merged, t)
	}
	return merged
}

// tolerationCovers reports whether ss tolerates every taint t does.
func tolerationCovers(ss, t corev1.Toleration) bool {
	if apiequality.Semantic.DeepEqual(t, ss) {
		return true
	}
	// An empty key with Exists matches every key.
	if t.Key != ss.Key && (ss.Key != "" || ss.Operator != corev1.TolerationOpExists) {
		return false
	}
	// An empty effect matches every effect.
	if t.Effect != ss.Effect && ss.Effect != "" {
		return false
	}
	// A NoExecute toleration with a deadline covers only those that
	// leave no later.
	if ss.Effect == corev1.TaintEffectNoExecute && ss.TolerationSeconds != nil {
		if t.TolerationSeconds == nil || *t.TolerationSeconds > *ss.TolerationSeconds {
			return false
		}
	}
	switch ss.Operator {
	case corev1.TolerationOpEqual, "":
		return t.Operator == corev1.TolerationOpEqual && t.Value == ss.Value
	case corev1.TolerationOpExists:
		return true
	default:
		// Lt and Gt compare numbers; Kubernetes does not reason about
		// their ranges here, so only an equal toleration covers them.
		return false
	}
}
