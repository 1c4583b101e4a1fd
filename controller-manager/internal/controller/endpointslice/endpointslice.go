// Package endpointslice is the EndpointSlice controller: for every Service
// with a selector, EndpointSlices (labelled kubernetes.io/service-name and
// managed-by endpointslice-controller.k8s.io, owned by the Service) that
// list the selected pods with their ready, serving and terminating
// conditions, grouped by the ports they resolve to, at most 100 a slice.
// Slices of other managers (the apiserver's for default/kubernetes, hand
// made ones for Services without a selector) are left alone.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/backends"
	"coracle.dev/controller-manager/internal/controllerkit/podstate"
)

// Name is the controller's name.
const Name = "endpointslice-controller"

// ManagedBy is the value of the managed-by label of our slices.
const ManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice is Kubernetes' default.
const MaxEndpointsPerSlice = 100

// Controller is the EndpointSlice controller.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   *Slices
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	ctl := &Controller{client: c.Client, services: svcInf.Lister(), pods: podInf.Lister()}
	ctl.Base = controller.NewBase(c, ctl.sync)
	var err error
	ctl.slices, err = WatchSlices(c, ctl.Base, ManagedBy)
	return ctl, errors.Join(err,
		ctl.Watch(svcInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), backends.PodHandlers(ctl.services, ctl.Enqueue)),
	)
}

// Group is the endpoints of one slice-to-be and their ports.
type Group struct {
	Ports     []discoveryv1.EndpointPort
	Endpoints []discoveryv1.Endpoint
}

func addressType(svc *corev1.Service) discoveryv1.AddressType {
	if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}

func family(ip string) discoveryv1.AddressType {
	if strings.Contains(ip, ":") {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}

// Desired is the pure part: the slices svc should have given the pods
// its selector matches, grouped by port set and cut at
// MaxEndpointsPerSlice, in a stable order.
func Desired(svc *corev1.Service, pods []*corev1.Pod) []Group {
	byPorts := map[string]*Group{}
	at := addressType(svc)
	for _, pod := range pods {
		if !backends.Include(pod, true) || family(pod.Status.PodIP) != at {
			continue
		}
		var ports []discoveryv1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			num, err := backends.FindPort(pod, sp)
			if err != nil {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(num), Protocol: ptr.To(proto), AppProtocol: sp.AppProtocol})
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue
		}
		terminating := pod.DeletionTimestamp != nil
		ready := backends.Ready(pod, svc) && !terminating
		ep := discoveryv1.Endpoint{
			Addresses: []string{pod.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{
				Ready:       ptr.To(ready),
				Serving:     ptr.To(podstate.IsReady(pod) || svc.Spec.PublishNotReadyAddresses),
				Terminating: ptr.To(terminating),
			},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if h := backends.Hostname(pod, svc); h != "" {
			ep.Hostname = ptr.To(h)
		}
		if pod.Spec.NodeName != "" {
			ep.NodeName = ptr.To(pod.Spec.NodeName)
		}
		k := portsKey(ports)
		g, ok := byPorts[k]
		if !ok {
			g = &Group{Ports: ports}
			byPorts[k] = g
		}
		g.Endpoints = append(g.Endpoints, ep)
	}
	keys := make([]string, 0, len(byPorts))
	for k := range byPorts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Group
	for _, k := range keys {
		g := byPorts[k]
		sort.Slice(g.Endpoints, func(i, j int) bool { return g.Endpoints[i].Addresses[0] < g.Endpoints[j].Addresses[0] })
		for start := 0; start < len(g.Endpoints); start += MaxEndpointsPerSlice {
			end := min(start+MaxEndpointsPerSlice, len(g.Endpoints))
			out = append(out, Group{Ports: g.Ports, Endpoints: g.Endpoints[start:end]})
		}
	}
	return out
}

func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%s/%d/%s", ptr.Deref(p.Name, ""), ptr.Deref(p.Port, 0), ptr.Deref(p.Protocol, ""))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Plan is what a sync changes: slices to update (with their new
// content), groups to create slices for, slices to delete.
type Plan struct {
	Update map[string]Group
	Create []Group
	Delete []string
}

// Reconcile is the pure part of matching existing slices to desired
// groups: a slice with the same ports takes a group in place; slices
// left over go, groups left over get new slices. A slice whose content
// is already right is not touched.
func Reconcile(existing []*discoveryv1.EndpointSlice, desired []Group) Plan {
	plan := Plan{Update: map[string]Group{}}
	byPorts := map[string][]*discoveryv1.EndpointSlice{}
	sorted := append([]*discoveryv1.EndpointSlice(nil), existing...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, s := range sorted {
		k := portsKey(s.Ports)
		byPorts[k] = append(byPorts[k], s)
	}
	for _, g := range desired {
		k := portsKey(g.Ports)
		if len(byPorts[k]) == 0 {
			plan.Create = append(plan.Create, g)
			continue
		}
		s := byPorts[k][0]
		byPorts[k] = byPorts[k][1:]
		if !apiequality.Semantic.DeepEqual(s.Endpoints, g.Endpoints) {
			plan.Update[s.Name] = g
		}
	}
	for _, list := range byPorts {
		for _, s := range list {
			plan.Delete = append(plan.Delete, s.Name)
		}
	}
	sort.Strings(plan.Delete)
	return plan
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	if c.slices.Pending(key) {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector deletes the slices the Service owned.
		return nil
	}
	if err != nil {
		return err
	}
	if !backends.Managed(svc) {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	existing, err := c.slices.Of(ns, name)
	if err != nil {
		return err
	}
	var mine []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if ref := metav1.GetControllerOfNoCopy(s); ref != nil && ref.UID == svc.UID && s.DeletionTimestamp == nil {
			mine = append(mine, s)
		}
	}
	desired := Desired(svc, pods)
	if len(desired) == 0 {
		// A Service with no endpoints still has one empty slice, so
		// clients can tell "none" from "not yet".
		desired = []Group{{}}
	}
	plan := Reconcile(mine, desired)
	wantLabels := backends.Labels(svc)
	wantLabels[discoveryv1.LabelServiceName] = name
	wantLabels[discoveryv1.LabelManagedBy] = ManagedBy

	c.slices.Expect(key, len(plan.Create))
	return c.slices.Apply(ctx, c.client.DiscoveryV1().EndpointSlices(ns), svc, addressType(svc), mine, plan, wantLabels)
}
