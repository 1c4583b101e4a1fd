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
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if toleratesNoExecute(pod.Spec.Tolerations, key) {
			continue
		}
		seconds := DefaultTolerationSeconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds,
		})
	}
	return nil
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
