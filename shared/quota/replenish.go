package quota

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ChangesUsage reports whether an update of an object of gr from old to
// obj can lower what it uses of quota, so that the quota controller
// must recount at once rather than at its next full resync (Kubernetes'
// update filter): a pod that ended, left the Terminating scope or was
// resized; a Service whose type changed; a claim whose allocated storage
// changed. Deletions always can.
func ChangesUsage(gr schema.GroupResource, old, obj runtime.Object, now time.Time) bool {
	switch gr {
	case Pods:
		o, ok1 := old.(*corev1.Pod)
		p, ok2 := obj.(*corev1.Pod)
		if !ok1 || !ok2 {
			return false
		}
		return containerResourcesChanged(o, p) || IsTerminating(o) != IsTerminating(p) ||
			PodCounts(o, now) && !PodCounts(p, now)
	case Services:
		o, ok1 := old.(*corev1.Service)
		s, ok2 := obj.(*corev1.Service)
		return ok1 && ok2 && quotaServiceType(o) != quotaServiceType(s)
	case PersistentVolumeClaims:
		o, ok1 := old.(*corev1.PersistentVolumeClaim)
		c, ok2 := obj.(*corev1.PersistentVolumeClaim)
		return ok1 && ok2 && allocatedStorageChanged(c, o)
	}
	return false
}

// containerResourcesChanged: the kubelet reports a resize in the
// containers' statuses.
func containerResourcesChanged(old, pod *corev1.Pod) bool {
	changed := func(olds, news []corev1.ContainerStatus) bool {
		for _, o := range olds {
			for _, n := range news {
				if n.Name == o.Name && !equality.Semantic.DeepEqual(o.Resources, n.Resources) {
					return true
				}
			}
		}
		return false
	}
	return changed(old.Status.ContainerStatuses, pod.Status.ContainerStatuses) ||
		changed(old.Status.InitContainerStatuses, pod.Status.InitContainerStatuses)
}
