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

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	discoveryclient "k8s.io/client-go/kubernetes/typed/discovery/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/backends"
	"coracle.dev/controller-manager/internal/controller/endpoints"
	"coracle.dev/controller-manager/internal/controller/expectations"
	"coracle.dev/controller-manager/internal/controller/podstate"
	"coracle.dev/controller-manager/internal/controller/reconcile"
)

// Name is the controller's name.
const Name = "endpointslice-controller"

// ManagedBy is the value of the managed-by label of our slices.
const ManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice is Kubernetes' default.
const MaxEndpointsPerSlice = 100

// Controller is the EndpointSlice controller.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    *reconcile.Queue[string]
	log      *zap.Logger
	workers  int
	// expect counts the slices a sync created that the informer has not
	// shown yet: until it has, another sync would create them again.
	expect *expectations.Expectations
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	sliceInf := c.Informers.Discovery().V1().EndpointSlices()
	ctl := &Controller{
		client: c.Client, services: svcInf.Lister(), pods: podInf.Lister(), slices: sliceInf.Lister(),
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		queue:  c.NewQueue(), log: c.Log, workers: c.Workers, expect: expectations.New(nil),
	}
	if _, err := svcInf.Informer().AddEventHandler(reconcile.Handlers(ctl.queue)); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(endpoints.PodHandlers(ctl.services, ctl.queue)); err != nil {
		return nil, err
	}
	onSlice := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
			return
		}
		ctl.queue.Add(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Labels[discoveryv1.LabelManagedBy] == ManagedBy {
				ctl.expect.CreationObserved(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
			}
			onSlice(obj)
		},
		UpdateFunc: func(_, obj any) { onSlice(obj) },
		DeleteFunc: onSlice,
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

// Run implements controller.Runner.
func (c *Controller) Run(ctx context.Context) {
	if !reconcile.WaitForSync(ctx, c.synced...) {
		return
	}
	c.queue.Run(ctx, c.workers, c.sync)
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
	if !c.expect.Satisfied(key) {
		// The slices created last time are not in the cache yet; their
		// arrival queues the key again.
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
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ManagedBy,
	}))
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

	c.expect.Expect(key, len(plan.Create), nil)
	ownerRef := *metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
	return Apply(ctx, c.client.DiscoveryV1().EndpointSlices(ns), mine, plan, wantLabels, func(g Group) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: name + "-", Namespace: ns, Labels: wantLabels,
				OwnerReferences: []metav1.OwnerReference{ownerRef},
			},
			AddressType: addressType(svc), Endpoints: g.Endpoints, Ports: g.Ports,
		}
	}, func() { c.expect.CreationObserved(key) })
}

// Apply writes plan against existing (the slices it was made from):
// slices with a new group or labels other than want are updated, groups
// left over are created from newSlice, and the slices the plan drops are
// deleted. createFailed is called for each creation that failed, which
// the informer will therefore never show. A creation refused because the
// namespace is terminating is not an error.
func Apply(ctx context.Context, client discoveryclient.EndpointSliceInterface, existing []*discoveryv1.EndpointSlice, plan Plan,
	want map[string]string, newSlice func(Group) *discoveryv1.EndpointSlice, createFailed func()) error {
	var errs []error
	for _, s := range existing {
		g, update := plan.Update[s.Name]
		if !update && labels.Equals(s.Labels, want) {
			continue
		}
		next := s.DeepCopy()
		next.Labels = want
		if update {
			next.Endpoints, next.Ports = g.Endpoints, g.Ports
		}
		if _, err := client.Update(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update endpointslice %s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	for _, g := range plan.Create {
		s := newSlice(g)
		if _, err := client.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			createFailed()
			if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				errs = append(errs, fmt.Errorf("create endpointslice %s/%s*: %w", s.Namespace, s.GenerateName, err))
			}
		}
	}
	for _, n := range plan.Delete {
		if err := client.Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete endpointslice %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
