// Package backends decides which pods back a Service, on which port
// numbers (named targetPorts resolved per pod) and whether they are ready:
// the rules the Endpoints and EndpointSlice controllers share, as
// Kubernetes' endpoints utilities state them.
package backends

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Managed reports whether a controller fills in the backends of svc: it
// has a selector and is not an ExternalName. Services without a selector
// keep their hand-made Endpoints and EndpointSlices.
func Managed(svc *corev1.Service) bool {
	return svc.Spec.Selector != nil && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// Include reports whether pod belongs among the backends at all: it has
// an IP, has not finished for good, and (unless includeTerminating) is
// not being deleted.
func Include(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" {
		return false
	}
	if pod.DeletionTimestamp != nil && !includeTerminating {
		return false
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return !podstate.IsTerminal(pod)
	case corev1.RestartPolicyOnFailure:
		return pod.Status.Phase != corev1.PodSucceeded
	}
	return true
}

// Hostname is the DNS hostname a headless Service gives pod, or "": the
// pod's hostname when its subdomain is the Service's name.
func Hostname(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// FindPort resolves a Service port's targetPort on pod: a number as is,
// a name through the pod's container ports of the same protocol.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	target := sp.TargetPort
	switch {
	case target.Type == intstr.String && target.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				want := sp.Protocol
				if want == "" {
					want = corev1.ProtocolTCP
				}
				if p.Name == target.StrVal && proto == want {
					return p.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("no container port named %q on pod %s/%s", target.StrVal, pod.Namespace, pod.Name)
	case target.Type == intstr.Int && target.IntVal != 0:
		return target.IntVal, nil
	}
	return sp.Port, nil
}

// Ready reports whether pod counts as a ready backend of svc.
func Ready(pod *corev1.Pod, svc *corev1.Service) bool {
	return svc.Spec.PublishNotReadyAddresses || podstate.IsReady(pod)
}

// IsHeadless reports whether svc has no cluster IP.
func IsHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// ServicesSelecting returns the keys of the Services in the pod's
// namespace whose selector matches it.
func ServicesSelecting(lister corelisters.ServiceLister, pod *corev1.Pod) []string {
	list, err := lister.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []string
	for _, svc := range list {
		if svc.Spec.Selector == nil {
			continue
		}
		if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			out = append(out, svc.Namespace+"/"+svc.Name)
		}
	}
	return out
}

// PodHandlers are pod handlers that queue, with enqueue, the Services that
// select a pod before and after each change.
func PodHandlers(services corelisters.ServiceLister, enqueue func(key string)) controller.Handlers[*corev1.Pod] {
	selecting := func(pod *corev1.Pod) {
		for _, key := range ServicesSelecting(services, pod) {
			enqueue(key)
		}
	}
	return controller.Handlers[*corev1.Pod]{
		Add: selecting,
		Update: func(old, pod *corev1.Pod) {
			if old.ResourceVersion == pod.ResourceVersion {
				return
			}
			selecting(pod)
			if !labels.Equals(old.Labels, pod.Labels) {
				selecting(old)
			}
		},
		Delete: selecting,
	}
}

// HeadlessLabel marks the Endpoints and EndpointSlices of headless
// Services.
const HeadlessLabel = corev1.IsHeadlessService

// Labels are the labels the Endpoints or EndpointSlices of svc carry: the
// Service's own, and the headless marker.
func Labels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		out[k] = v
	}
	if IsHeadless(svc) {
		out[HeadlessLabel] = ""
	} else {
		delete(out, HeadlessLabel)
	}
	return out
}
