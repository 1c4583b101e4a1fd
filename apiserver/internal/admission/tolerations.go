package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DefaultTolerationSeconds is how long a pod stays on a node that is not
// ready or unreachable before the node lifecycle controller evicts it.
const DefaultTolerationSeconds int64 = 300

// DefaultTolerations gives every new pod the not-ready and unreachable
// NoExecute tolerations for 300 s unless it tolerates them already, as
// Kubernetes' DefaultTolerationSeconds admission plugin does.
type DefaultTolerations struct{}

// AdmitCreate implements genericstore.Admitter.
func (DefaultTolerations) AdmitCreate(_ context.Context, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	addDefaultTolerations(pod)
	return nil
}

// MutateUpdate implements genericstore.UpdateMutator: an update of the
// pod itself (not a subresource) gets them too, as upstream's plugin
// admits updates, so one that replaces the tolerations with new ones
// keeps the defaults (which may not be removed).
func (DefaultTolerations) MutateUpdate(_ context.Context, subresource string, obj, _ runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok || subresource != "" {
		return nil
	}
	addDefaultTolerations(pod)
	return nil
}

// addDefaultTolerations adds the not-ready and unreachable tolerations
// the pod lacks.
func addDefaultTolerations(pod *corev1.Pod) {
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if toleratesNoExecute(pod.Spec.Tolerations, key) {
			continue
		}
		seconds := DefaultTolerationSeconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds,
		})
	}
}

// toleratesNoExecute reports whether some toleration already covers the
// NoExecute taint with key (an empty key with Exists covers every taint).
func toleratesNoExecute(tols []corev1.Toleration, key string) bool {
	for _, t := range tols {
		if t.Effect != "" && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if t.Key == key || (t.Key == "" && t.Operator == corev1.TolerationOpExists) {
			return true
		}
	}
	return false
}
