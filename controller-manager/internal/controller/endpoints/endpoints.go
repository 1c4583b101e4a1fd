// Package endpoints is the Endpoints controller: for every Service with a
// selector, an Endpoints object of the same name listing the selected
// pods' addresses, ready ones under addresses and the others under
// notReadyAddresses (all ready with publishNotReadyAddresses), with each
// pod's resolution of named targetPorts; pods with the same ports share a
// subset. Services without a selector keep their hand-made Endpoints.
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

// Controller is the Endpoints controller.
type Controller struct {
	*controller.Base
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	epInf := c.Informers.Core().V1().Endpoints()
	ctl := &Controller{client: c.Client, services: svcInf.Lister(), pods: podInf.Lister(), endpoints: epInf.Lister()}
	ctl.Base = controller.NewBase(c, ctl.sync)
	enqueue := func(ep *corev1.Endpoints) { ctl.Enqueue(controller.Key(ep)) }
	return ctl, errors.Join(
		ctl.Watch(svcInf.Informer(), ctl.Objects()),
		ctl.Watch(podInf.Informer(), backends.PodHandlers(ctl.services, ctl.Enqueue)),
		// Endpoints deleted or changed by hand come back as they should be.
		ctl.Watch(epInf.Informer(), controller.Handlers[*corev1.Endpoints]{Update: func(_, ep *corev1.Endpoints) { enqueue(ep) }, Delete: enqueue}),
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
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
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
	subsets := Subsets(svc, pods)
	want := backends.Labels(svc)
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
