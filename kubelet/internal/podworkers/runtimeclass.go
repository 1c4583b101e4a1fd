package podworkers

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runtimeHandlers are the RuntimeClass handlers this kubelet runs pods
// with: the default ("", a pod naming no class or a class with an empty
// handler) and runc, which is what the default is.
var runtimeHandlers = map[string]bool{"": true, "runc": true}

// checkRuntimeClass resolves the pod's RuntimeClass to its handler as
// upstream's runtime class manager does, and says why the pod's sandbox
// cannot be made if the class is missing or names a handler this node
// does not have (upstream's words: the lister's NotFound, and the
// runtime's "no runtime for … is configured"). The class is read when a
// sandbox is to be made, which is rare enough not to need a cache.
func (m *Manager) checkRuntimeClass(ctx context.Context, pod *v1.Pod) error {
	name := pod.Spec.RuntimeClassName
	if name == nil || *name == "" || m.opts.Client == nil {
		return nil
	}
	rc, err := m.opts.Client.NodeV1().RuntimeClasses().Get(ctx, *name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("runtimeclass.node.k8s.io %q not found", *name)
	case err != nil:
		return fmt.Errorf("failed to lookup RuntimeClass %s: %w", *name, err)
	case !runtimeHandlers[rc.Handler]:
		return fmt.Errorf("no runtime for %q is configured", rc.Handler)
	}
	return nil
}
