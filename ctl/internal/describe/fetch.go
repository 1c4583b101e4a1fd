package describe

import (
	"context"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/ctl/internal/rollout"
)

// Fetcher reads what a description needs besides the object: its events
// and related objects (a node's pods, a deployment's replica sets, a
// service's endpoints).
type Fetcher struct {
	Client kubernetes.Interface
	Now    func() time.Time
}

// Describe writes the description of obj.
func (f *Fetcher) Describe(ctx context.Context, out io.Writer, obj *unstructured.Unstructured) error {
	now := f.Now()
	gk := obj.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "" && gk.Kind == "Pod":
		var pod corev1.Pod
		if err := convert(obj, &pod); err != nil {
			return err
		}
		return Pod(out, &pod, f.events(ctx, obj), now)
	case gk.Group == "" && gk.Kind == "Node":
		var node corev1.Node
		if err := convert(obj, &node); err != nil {
			return err
		}
		sel := fields.AndSelectors(
			fields.OneTermEqualSelector("spec.nodeName", node.Name),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
		)
		pods, err := f.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
		if err != nil {
			return err
		}
		events := f.events(ctx, obj)
		// The kubelet names a node's events by the node's name rather
		// than its uid.
		byName := obj.DeepCopy()
		byName.SetUID(types.UID(obj.GetName()))
		events = append(events, f.events(ctx, byName)...)
		lease, leaseErr := f.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node.Name, metav1.GetOptions{})
		if leaseErr != nil {
			lease = nil
		}
		return Node(out, &node, lease, leaseErr, pods.Items, events, now)
	case gk.Group == "apps" && gk.Kind == "Deployment":
		var d appsv1.Deployment
		if err := convert(obj, &d); err != nil {
			return err
		}
		rss, err := rollout.ReplicaSets(ctx, f.Client, &d)
		if err != nil {
			return err
		}
		current, old := rollout.Split(&d, rss)
		var active []appsv1.ReplicaSet
		for _, rs := range old {
			if rs.Spec.Replicas != nil && *rs.Spec.Replicas > 0 || rs.Status.Replicas > 0 {
				active = append(active, rs)
			}
		}
		return Deployment(out, &d, active, current, f.events(ctx, obj), now)
	case gk.Group == "apps" && gk.Kind == "ReplicaSet":
		var rs appsv1.ReplicaSet
		if err := convert(obj, &rs); err != nil {
			return err
		}
		var pods []corev1.Pod
		if sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector); err == nil {
			list, err := f.Client.CoreV1().Pods(rs.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return err
			}
			for _, p := range list.Items {
				if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID {
					pods = append(pods, p)
				}
			}
		}
		return ReplicaSet(out, &rs, pods, f.events(ctx, obj), now)
	case gk.Group == "" && gk.Kind == "Service":
		var svc corev1.Service
		if err := convert(obj, &svc); err != nil {
			return err
		}
		ep, err := f.Client.CoreV1().Endpoints(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			ep = nil
		}
		return Service(out, &svc, ep, f.events(ctx, obj), now)
	case gk.Group == "certificates.k8s.io" && gk.Kind == "CertificateSigningRequest":
		var csr certificatesv1.CertificateSigningRequest
		if err := convert(obj, &csr); err != nil {
			return err
		}
		return CertificateSigningRequest(out, &csr, f.events(ctx, obj), now)
	case gk.Group == "" && gk.Kind == "Namespace":
		var ns corev1.Namespace
		if err := convert(obj, &ns); err != nil {
			return err
		}
		// kubectl lists both in full; a server without them has none.
		quotas, err := f.Client.CoreV1().ResourceQuotas(ns.Name).List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		limits, err := f.Client.CoreV1().LimitRanges(ns.Name).List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		var q []corev1.ResourceQuota
		var l []corev1.LimitRange
		if quotas != nil {
			q = quotas.Items
		}
		if limits != nil {
			l = limits.Items
		}
		return Namespace(out, &ns, q, l, f.events(ctx, obj), now)
	case gk.Group == "" && gk.Kind == "ResourceQuota":
		var q corev1.ResourceQuota
		if err := convert(obj, &q); err != nil {
			return err
		}
		return ResourceQuota(out, &q, now)
	case gk.Group == "" && gk.Kind == "LimitRange":
		var lr corev1.LimitRange
		if err := convert(obj, &lr); err != nil {
			return err
		}
		return LimitRange(out, &lr, now)
	case gk.Group == networkingv1.GroupName && gk.Kind == "Ingress":
		var ing networkingv1.Ingress
		if err := convert(obj, &ing); err != nil {
			return err
		}
		return Ingress(out, &ing, f.ingressBackends(ctx, &ing), f.events(ctx, obj), now)
	case gk.Group == networkingv1.GroupName && gk.Kind == "IngressClass":
		var ic networkingv1.IngressClass
		if err := convert(obj, &ic); err != nil {
			return err
		}
		return IngressClass(out, &ic, f.events(ctx, obj), now)
	}
	return Generic(out, obj, f.events(ctx, obj), now)
}

func convert(obj *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into); err != nil {
		return fmt.Errorf("decode %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}

// events lists the events about obj; describing goes on without them if
// they cannot be read.
func (f *Fetcher) events(ctx context.Context, obj *unstructured.Unstructured) []corev1.Event {
	set := fields.Set{
		"involvedObject.name": obj.GetName(),
		"involvedObject.kind": obj.GetKind(),
	}
	if obj.GetNamespace() != "" {
		set["involvedObject.namespace"] = obj.GetNamespace()
	}
	if obj.GetUID() != "" {
		set["involvedObject.uid"] = string(obj.GetUID())
	}
	list, err := f.Client.CoreV1().Events(obj.GetNamespace()).List(ctx, metav1.ListOptions{FieldSelector: fields.SelectorFromSet(set).String()})
	if err != nil {
		return nil
	}
	return list.Items
}

// ingressBackends reads every Service an Ingress routes to, and its
// EndpointSlices, once per name however many paths name it. As kubectl
// does, the slices are read first and an error reading either is kept
// for the backend's line rather than failing the description.
func (f *Fetcher) ingressBackends(ctx context.Context, ing *networkingv1.Ingress) map[string]Backend {
	var names []string
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		names = append(names, b.Service.Name)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				names = append(names, p.Backend.Service.Name)
			}
		}
	}
	backends := map[string]Backend{}
	for _, name := range names {
		if _, done := backends[name]; done {
			continue
		}
		slices, err := f.Client.DiscoveryV1().EndpointSlices(ing.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + name,
		})
		if err != nil {
			backends[name] = Backend{Err: err}
			continue
		}
		svc, err := f.Client.CoreV1().Services(ing.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			backends[name] = Backend{Err: err}
			continue
		}
		backends[name] = Backend{Service: svc, Slices: slices.Items}
	}
	return backends
}
