// Package bootstrap creates what a Kubernetes apiserver guarantees exists:
// the system namespaces, the `kubernetes` Service in `default` with this
// apiserver as its endpoint, the default ServiceCIDR `kubernetes` holding
// the service range, the two system PriorityClasses, and, as
// kubeadm's bootstrap-token phase writes it, the kube-public/cluster-info
// ConfigMap joining nodes discover the cluster from. Every step is
// idempotent: it runs at each start.
package bootstrap

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/genericstore"
)

// SystemNamespaces exist from the start.
var SystemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// Stores gives the generic stores bootstrap writes through.
type Stores struct {
	Namespaces, Services, Endpoints, EndpointSlices, PriorityClasses, ConfigMaps *genericstore.Store
	// ServiceCIDRs, when set, gets the default ServiceCIDR.
	ServiceCIDRs *genericstore.Store
}

// Options of the bootstrap.
type Options struct {
	// ServiceIP is the `kubernetes` Service's ClusterIP (the range's first).
	ServiceIP string
	// ServiceCIDR is the range ClusterIPs are allocated from.
	ServiceCIDR string
	// AdvertiseIP and Port are where this apiserver is reached.
	AdvertiseIP string
	Port        int
	// CACertPEM is the cluster CA, published in cluster-info.
	CACertPEM []byte
}

// Run creates or repairs the bootstrap objects.
func Run(ctx context.Context, s Stores, opts Options) error {
	for _, ns := range SystemNamespaces {
		if err := ensure(ctx, s.Namespaces, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	for _, pc := range systemPriorityClasses() {
		if err := ensure(ctx, s.PriorityClasses, "", pc); err != nil {
			return fmt.Errorf("priority class %s: %w", pc.Name, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       opts.ServiceIP,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{
				Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(opts.Port)),
			}},
		},
	}
	if s.ServiceCIDRs != nil {
		if err := reconcileServiceCIDR(ctx, s.ServiceCIDRs, opts.ServiceCIDR); err != nil {
			return fmt.Errorf("servicecidr %s: %w", DefaultServiceCIDRName, err)
		}
	}
	if err := ensure(ctx, s.Services, metav1.NamespaceDefault, svc); err != nil {
		return fmt.Errorf("service default/kubernetes: %w", err)
	}
	if err := reconcileClusterInfo(ctx, s.ConfigMaps, opts); err != nil {
		return fmt.Errorf("configmap %s/%s: %w", metav1.NamespacePublic, bootstrapapi.ConfigMapClusterInfo, err)
	}
	// Endpoints may not be loopback addresses (Kubernetes' validation): a
	// host with no other address gets the Service without endpoints.
	if ip := net.ParseIP(opts.AdvertiseIP); ip != nil && ip.IsLoopback() {
		return nil
	}
	if err := reconcileEndpoints(ctx, s, opts); err != nil {
		return fmt.Errorf("endpoints default/kubernetes: %w", err)
	}
	return nil
}

func ensure(ctx context.Context, store *genericstore.Store, ns string, obj runtime.Object) error {
	_, err := store.Create(ctx, ns, obj, genericstore.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func systemPriorityClasses() []*schedulingv1.PriorityClass {
	return []*schedulingv1.PriorityClass{
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-node-critical"},
			Value:       2000001000,
			Description: "Used for system critical pods that must not be moved from their current node.",
		},
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-cluster-critical"},
			Value:       2000000000,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
		},
	}
}

// reconcileEndpoints makes this apiserver's address one of the
// `kubernetes` Service's endpoints, in both Endpoints and EndpointSlice.
func reconcileEndpoints(ctx context.Context, s Stores, opts Options) error {
	if net.ParseIP(opts.AdvertiseIP) == nil {
		return fmt.Errorf("advertise address %q is not an IP", opts.AdvertiseIP)
	}
	port := int32(opts.Port)
	_, err := s.Endpoints.Update(ctx, metav1.NamespaceDefault, "kubernetes", func(current runtime.Object) (runtime.Object, error) {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault}}
		if current != nil {
			ep = current.(*corev1.Endpoints)
		}
		ep.Labels = map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}
		ips := []string{opts.AdvertiseIP}
		if len(ep.Subsets) == 1 {
			for _, a := range ep.Subsets[0].Addresses {
				if a.IP != opts.AdvertiseIP {
					ips = append(ips, a.IP)
				}
			}
		}
		sort.Strings(ips)
		subset := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}}}
		for _, ip := range ips {
			subset.Addresses = append(subset.Addresses, corev1.EndpointAddress{IP: ip})
		}
		ep.Subsets = []corev1.EndpointSubset{subset}
		ep.ResourceVersion = ""
		return ep, nil
	}, genericstore.UpdateOptions{})
	if err != nil {
		return err
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "apiserver.coracle.dev"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	name, proto := "https", corev1.ProtocolTCP
	slice.Ports = []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}}
	ready := true
	slice.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{opts.AdvertiseIP}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}
	if err := ensure(ctx, s.EndpointSlices, metav1.NamespaceDefault, slice.DeepCopy()); err != nil {
		return err
	}
	_, err = s.EndpointSlices.Update(ctx, metav1.NamespaceDefault, "kubernetes", func(current runtime.Object) (runtime.Object, error) {
		cur := current.(*discoveryv1.EndpointSlice)
		seen := map[string]bool{}
		var endpoints []discoveryv1.Endpoint
		for _, e := range append(slice.Endpoints, cur.Endpoints...) {
			if len(e.Addresses) == 0 || seen[e.Addresses[0]] {
				continue
			}
			seen[e.Addresses[0]] = true
			endpoints = append(endpoints, e)
		}
		sort.Slice(endpoints, func(i, j int) bool { return endpoints[i].Addresses[0] < endpoints[j].Addresses[0] })
		cur.Endpoints = endpoints
		cur.Ports = slice.Ports
		cur.ResourceVersion = ""
		return cur, nil
	}, genericstore.UpdateOptions{})
	return err
}

// ClusterInfoKubeconfig is cluster-info's kubeconfig, in kubeadm's shape:
// one cluster named "" with the apiserver's URL and the CA, no users, no
// contexts. A joining node trusts it once the CA matches the hash it was
// given and the bootstrap signer's JWS over it verifies with its token.
func ClusterInfoKubeconfig(server string, caPEM []byte) ([]byte, error) {
	return clientcmd.Write(clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"": {Server: server, CertificateAuthorityData: caPEM}},
	})
}

// reconcileClusterInfo creates kube-public/cluster-info or brings its
// kubeconfig up to date, leaving every other key alone: the controller
// manager's bootstrap signer keeps its jws-kubeconfig-<token id>
// signatures there, and rewriting an unchanged kubeconfig would make it
// sign again for nothing.
func reconcileClusterInfo(ctx context.Context, store *genericstore.Store, opts Options) error {
	server := "https://" + net.JoinHostPort(opts.AdvertiseIP, strconv.Itoa(opts.Port))
	kubeconfig, err := ClusterInfoKubeconfig(server, opts.CACertPEM)
	if err != nil {
		return err
	}
	_, err = store.Create(ctx, metav1.NamespacePublic, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.ConfigMapClusterInfo, Namespace: metav1.NamespacePublic},
		Data:       map[string]string{bootstrapapi.KubeConfigKey: string(kubeconfig)},
	}, genericstore.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The store writes nothing when the kubeconfig is already current.
	_, err = store.Update(ctx, metav1.NamespacePublic, bootstrapapi.ConfigMapClusterInfo, func(current runtime.Object) (runtime.Object, error) {
		cm := current.(*corev1.ConfigMap)
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[bootstrapapi.KubeConfigKey] = string(kubeconfig)
		cm.ResourceVersion = ""
		return cm, nil
	}, genericstore.UpdateOptions{})
	return err
}

// DefaultServiceCIDRName names the ServiceCIDR of the configured service
// range, as Kubernetes' default-servicecidr controller does.
const DefaultServiceCIDRName = "kubernetes"

// reconcileServiceCIDR creates the default ServiceCIDR with cidr and, when
// it holds that range and no one has said whether it is ready, marks it
// Ready, as Kubernetes' apiserver does. A default ServiceCIDR holding
// another range (the flag changed since it was made) is left alone:
// Services were allocated from it.
func reconcileServiceCIDR(ctx context.Context, store *genericstore.Store, serviceRange string) error {
	// The flag may name any address of the range; the API wants its
	// canonical form.
	_, ipnet, err := net.ParseCIDR(serviceRange)
	if err != nil {
		return fmt.Errorf("service range %q: %w", serviceRange, err)
	}
	cidr := ipnet.String()
	err = ensure(ctx, store, "", &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceCIDRName},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{cidr}},
	})
	if err != nil {
		return err
	}
	_, err = store.Update(ctx, "", DefaultServiceCIDRName, func(current runtime.Object) (runtime.Object, error) {
		sc := current.(*networkingv1.ServiceCIDR)
		if len(sc.Spec.CIDRs) != 1 || sc.Spec.CIDRs[0] != cidr || sc.DeletionTimestamp != nil {
			return sc, nil
		}
		if c := apimeta.FindStatusCondition(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady); c != nil && c.Status != metav1.ConditionUnknown {
			return sc, nil
		}
		apimeta.SetStatusCondition(&sc.Status.Conditions, metav1.Condition{
			Type: networkingv1.ServiceCIDRConditionReady, Status: metav1.ConditionTrue,
			Message: "Kubernetes default Service CIDR is ready",
		})
		sc.ResourceVersion = ""
		return sc, nil
	}, genericstore.UpdateOptions{Subresource: apiresource.Status})
	return err
}
