// Package endpointslicemirroring is the EndpointSlice mirroring
// controller: the hand-made Endpoints of a Service without a selector are
// mirrored into EndpointSlices (managed-by
// endpointslicemirroring-controller.k8s.io), so that what reads slices —
// kube-proxy, DNS — sees them too. Endpoints labelled
// endpointslice.kubernetes.io/skip-mirror=true (the apiserver's own for
// default/kubernetes) are not mirrored.
package endpointslicemirroring

import (
	"context"
	"errors"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/controller/endpointslice"
)

// Name is the controller's name.
const Name = "endpointslice-mirroring-controller"

// ManagedBy is the managed-by label value of mirrored slices.
const ManagedBy = "endpointslicemirroring-controller.k8s.io"

// SkipMirrorLabel on an Endpoints object keeps it from being mirrored.
const SkipMirrorLabel = discoveryv1.LabelSkipMirror

// MaxMirrored is how many addresses of one Endpoints are mirrored, as in
// Kubernetes.
const MaxMirrored = 1000

// Controller mirrors Endpoints into EndpointSlices.
type Controller struct {
	*controller.Base
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	endpoints corelisters.EndpointsLister
	slices    *endpointslice.Slices
}

// New builds the controller.
func New(c controller.Context) (*Controller, error) {
	svcInf := c.Informers.Core().V1().Services()
	epInf := c.Informers.Core().V1().Endpoints()
	ctl := &Controller{client: c.Client, services: svcInf.Lister(), endpoints: epInf.Lister()}
	ctl.Base = controller.NewBase(c, ctl.sync)
	var err error
	ctl.slices, err = endpointslice.WatchSlices(c, ctl.Base, ManagedBy)
	return ctl, errors.Join(err,
		ctl.Watch(svcInf.Informer(), ctl.Objects()),
		ctl.Watch(epInf.Informer(), ctl.Objects()),
	)
}

// Desired is the pure part: the slices mirroring ep, by address type and
// port set, ready addresses ready and the others not.
func Desired(ep *corev1.Endpoints) map[discoveryv1.AddressType][]endpointslice.Group {
	out := map[discoveryv1.AddressType][]endpointslice.Group{}
	budget := MaxMirrored
	for _, subset := range ep.Subsets {
		var ports []discoveryv1.EndpointPort
		for _, p := range subset.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.Port), Protocol: ptr.To(proto), AppProtocol: p.AppProtocol})
		}
		byType := map[discoveryv1.AddressType][]discoveryv1.Endpoint{}
		add := func(a corev1.EndpointAddress, ready bool) {
			if budget == 0 {
				return
			}
			budget--
			e := discoveryv1.Endpoint{
				Addresses:  []string{a.IP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
				TargetRef:  a.TargetRef,
				NodeName:   a.NodeName,
			}
			if a.Hostname != "" {
				e.Hostname = ptr.To(a.Hostname)
			}
			at := discoveryv1.AddressTypeIPv4
			if strings.Contains(a.IP, ":") {
				at = discoveryv1.AddressTypeIPv6
			}
			byType[at] = append(byType[at], e)
		}
		for _, a := range subset.Addresses {
			add(a, true)
		}
		for _, a := range subset.NotReadyAddresses {
			add(a, false)
		}
		for at, eps := range byType {
			sort.Slice(eps, func(i, j int) bool { return eps[i].Addresses[0] < eps[j].Addresses[0] })
			for start := 0; start < len(eps); start += endpointslice.MaxEndpointsPerSlice {
				end := min(start+endpointslice.MaxEndpointsPerSlice, len(eps))
				out[at] = append(out[at], endpointslice.Group{Ports: ports, Endpoints: eps[start:end]})
			}
		}
	}
	return out
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	if c.slices.Pending(key) {
		return nil
	}
	existing, err := c.slices.Of(ns, name)
	if err != nil {
		return err
	}
	svc, svcErr := c.services.Services(ns).Get(name)
	ep, epErr := c.endpoints.Endpoints(ns).Get(name)
	mirror := svcErr == nil && epErr == nil && svc.Spec.Selector == nil && ep.Labels[SkipMirrorLabel] != "true"
	client := c.client.DiscoveryV1().EndpointSlices(ns)
	var errs []error
	if !mirror {
		for _, s := range existing {
			if err := client.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	wantLabels := map[string]string{}
	for k, v := range ep.Labels {
		wantLabels[k] = v
	}
	wantLabels[discoveryv1.LabelServiceName] = name
	wantLabels[discoveryv1.LabelManagedBy] = ManagedBy
	desired := Desired(ep)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	addressTypes := []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}
	plans := map[discoveryv1.AddressType]endpointslice.Plan{}
	creates := 0
	for _, at := range addressTypes {
		plans[at] = endpointslice.Reconcile(byType[at], desired[at])
		creates += len(plans[at].Create)
	}
	// Every creation of this sync, whatever its address type.
	c.slices.Expect(key, creates)
	for _, at := range addressTypes {
		errs = append(errs, c.slices.Apply(ctx, client, svc, at, byType[at], plans[at], wantLabels))
	}
	return errors.Join(errs...)
}
