package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"coracle.dev/apiserver/internal/resource"
)

// podStrategy: pods start Pending; once bound to a node they are deleted
// gracefully, the kubelet finishing the deletion.
type podStrategy struct{ resource.DefaultStrategy }

func (podStrategy) PrepareForCreate(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(pod)}
}

// GracePeriod follows Kubernetes: the client's value, else the pod's
// terminationGracePeriodSeconds; zero for pods never scheduled or already
// finished.
func (podStrategy) GracePeriod(obj runtime.Object, requested *int64) (int64, bool) {
	pod := obj.(*corev1.Pod)
	period := int64(0)
	switch {
	case requested != nil:
		period = *requested
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		period = 0
	}
	return period, true
}

// qosClass computes the pod's QoS class from its containers' requests and
// limits, as Kubernetes does.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	zero := true
	guaranteed := true
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zero = false
			if cur, ok := requests[name]; ok {
				cur.Add(q)
				requests[name] = cur
			} else {
				requests[name] = q.DeepCopy()
			}
		}
		has := map[corev1.ResourceName]bool{}
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zero = false
			has[name] = true
			if cur, ok := limits[name]; ok {
				cur.Add(q)
				limits[name] = cur
			} else {
				limits[name] = q.DeepCopy()
			}
		}
		if !has[corev1.ResourceCPU] || !has[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if zero {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
