// Package endpoints is the Endpoints controller: for every Service with a
// selector, an Endpoints object of the same name listing the selected
// pods' addresses, ready ones under addresses and the others under
// notReadyAddresses (all ready with publishNotReadyAddresses), with each
// pod's resolution of named targetPorts; pods with the same ports share a
// subset. Services without a selector keep their hand-made Endpoints.
//
// The controller labels what it writes with LabelManagedBy, as Kubernetes'
// does, and that label is what it owns: an Endpoints object whose Service
// is missing is deleted only if the controller made it, so Endpoints a
// user made by hand, with no Service (yet), stay. A Service the controller
// sees deleted takes its Endpoints along whoever made them, as in
// Kubernetes.
package endpoints

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controllerkit/backends"
)

// Name is the controller's name.
const Name = "endpoints-controller"

// LabelManagedBy marks the Endpoints this controller writes, with the
// value ControllerName: Kubernetes' names, which other tools read.
const (
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	ControllerName = "endpoint-controller"
)

// Controller is the Endpoints controller.
type Controller struct {
	*controller.Base
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	// deleted holds the keys of Services seen deleted, whose Endpoints go
	// whoever made them.
	deleted *controller.Queue[string]
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	epInf := c.Informers.Core().V1().Endpoints()
	ctl := &Controller{client: c.Client, services: svcInf.Lister(), pods: podInf.Lister(), endpoints: epInf.Lister()}
	ctl.Base = controller.NewBase(c, ctl.sync)
	ctl.deleted = ctl.AddQueue(c, Name+"-deleted-services", ctl.syncDeletedService)
	enqueue := func(ep *corev1.Endpoints) { ctl.Enqueue(controller.Key(ep)) }
	return ctl, errors.Join(
		ctl.Watch(svcInf.Informer(), ctl.Objects()),
		ctl.Watch(svcInf.Informer(), controller.Handlers[*corev1.Service]{Delete: func(svc *corev1.Service) {
			ctl.deleted.Add(controller.Key(svc))
		}}),
		ctl.Watch(podInf.Informer(), backends.PodHandlers(ctl.services, ctl.Enqueue)),
		// Endpoints deleted or changed by hand come back as they should be,
		// and those the controller made for a Service deleted while it was
		// not running are found when the informer lists them.
		ctl.Watch(epInf.Informer(), controller.OnAll(enqueue)),
	)
}

// Subsets is the pure part: the Endpoints subsets of svc given the pods
// its selector matches, repacked so that pods with the same ports share
// a subset, in a stable order.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type group struct {
		ports    []corev1.EndpointPort
		ready    []corev1.EndpointAddress
		notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	add := func(ports []corev1.EndpointPort, addr corev1.EndpointAddress, ready bool) {
		k := portsKey(ports)
		g, ok := groups[k]
		if !ok {
			g = &group{ports: ports}
			groups[k] = g
		}
		if ready {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	for _, pod := range pods {
		if !backends.Include(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		node := pod.Spec.NodeName
		addr := corev1.EndpointAddress{
			IP:        pod.Status.PodIP,
			Hostname:  backends.Hostname(pod, svc),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if node != "" {
			addr.NodeName = &node
		}
		ready := backends.Ready(pod, svc)
		if len(svc.Spec.Ports) == 0 {
			if backends.IsHeadless(svc) {
				add(nil, addr, ready)
			}
			continue
		}
		var ports []corev1.EndpointPort
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
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: num, Protocol: proto, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 {
			continue
		}
		add(ports, addr, ready)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		g := groups[k]
		sortAddresses(g.ready)
		sortAddresses(g.notReady)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

func portsKey(ports []corev1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%s/%d/%s", p.Name, p.Port, p.Protocol)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func sortAddresses(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return a[i].TargetRef.UID < a[j].TargetRef.UID
	})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		current, err := c.endpoints.Endpoints(ns).Get(name)
		if apierrors.IsNotFound(err) || (err == nil && !Owned(current)) {
			return nil
		}
		if err != nil {
			return err
		}
		return c.deleteEndpoints(ctx, current)
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
	subsets := Subsets(svc, pods)
	want := Labels(svc)
	current, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: want}, Subsets: subsets}
		_, err := c.client.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{})
		if err == nil || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return fmt.Errorf("create endpoints %s: %w", key, err)
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(current.Subsets, subsets) && labels.Equals(current.Labels, want) {
		return nil
	}
	next := current.DeepCopy()
	next.Subsets = subsets
	next.Labels = want
	if _, err := c.client.CoreV1().Endpoints(ns).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update endpoints %s: %w", key, err)
	}
	return nil
}

// Owned reports whether ep was written by this controller, so that it may
// delete ep when its Service is missing.
func Owned(ep *corev1.Endpoints) bool {
	return ep.Labels[LabelManagedBy] == ControllerName
}

// Labels are those of the Endpoints of svc: the Service's own, the
// headless mark, and the controller's.
func Labels(svc *corev1.Service) map[string]string {
	out := backends.Labels(svc)
	out[LabelManagedBy] = ControllerName
	return out
}

// syncDeletedService deletes the Endpoints of a Service seen deleted,
// unless a Service of that name exists again.
func (c *Controller) syncDeletedService(ctx context.Context, key string) error {
	if _, exists, err := controller.Get(key, c.services.Services); exists || err != nil {
		return err
	}
	ep, exists, err := controller.Get(key, c.endpoints.Endpoints)
	if !exists || err != nil {
		return err
	}
	return c.deleteEndpoints(ctx, ep)
}

// deleteEndpoints deletes ep, and not a newer object of its name.
func (c *Controller) deleteEndpoints(ctx context.Context, ep *corev1.Endpoints) error {
	uid := ep.UID
	err := c.client.CoreV1().Endpoints(ep.Namespace).Delete(ctx, ep.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete endpoints %s: %w", controller.Key(ep), err)
	}
	return nil
}
