package endpoints

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	apiserverproxy "k8s.io/apiserver/pkg/util/proxy"

	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/genericstore"
)

// defaultProxyTransport reaches pods and Services' endpoints as
// kube-apiserver's proxy transport does: by IP, so their certificates
// cannot be verified against a name, and without the environment's HTTP
// proxy, which cannot route to pod IPs.
func defaultProxyTransport() *http.Transport {
	return &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // pods are addressed by IP, as upstream
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 25,
		IdleConnTimeout:     90 * time.Second,
	}
}

// serveProxy serves pods/proxy, services/proxy and nodes/proxy, with
// any path after them: every method goes through to the pod, a ready
// endpoint of the Service, or the node's kubelet, connection upgrades
// (WebSocket) included, as Kubernetes' proxy subresources. HTML answers
// have their links rewritten to go through the proxy too.
func (r *request) serveProxy() {
	path := r.proxyPath()
	var (
		loc *url.URL
		rt  http.RoundTripper
		err error
	)
	// Admitted as a CONNECT with the options of the resource's proxy
	// before anything is resolved, as kube-apiserver's connect handler.
	switch r.desc.Resource {
	case "pods":
		if err = r.admitConnect(&corev1.PodProxyOptions{Path: r.connectPath(path)}); err == nil {
			loc, rt, err = r.podLocation()
		}
	case "services":
		if err = r.admitConnect(&corev1.ServiceProxyOptions{Path: r.connectPath(path)}); err == nil {
			loc, rt, err = r.serviceLocation()
		}
	case "nodes":
		if err = r.admitConnect(&corev1.NodeProxyOptions{Path: r.connectPath(path)}); err == nil {
			loc, rt, err = r.nodeLocation()
		}
	default:
		err = notFound()
	}
	if err != nil {
		r.fail(err)
		return
	}
	loc.Path = utilnet.JoinPreservingTrailingSlash(loc.Path, path)
	h := proxy.NewUpgradeAwareHandler(loc, rt, true, false, proxyResponder{r})
	h.ServeHTTP(r.c.Writer, r.outbound())
}

// proxyPath is the part of the URL path after the proxy subresource,
// without its leading slash but with a trailing one: "" for both
// ".../proxy" and ".../proxy/" (the handler tells them apart by the
// request's own path), "a/b/" for ".../proxy/a/b/".
func (r *request) proxyPath() string {
	rest := strings.TrimPrefix(r.c.Param("rest"), "/")
	n := 3 // {resource}/{name}/proxy
	if r.info.Namespace != "" {
		n = 5 // namespaces/{namespace}/{resource}/{name}/proxy
	}
	parts := strings.SplitN(rest, "/", n+1)
	if len(parts) <= n {
		return ""
	}
	return parts[n]
}

// connectPath is the path a proxy's connect options carry, as
// kube-apiserver fills them: the part after the subresource with a
// leading slash, and a trailing one when the request's path has it ("/"
// for ".../proxy/", "" for ".../proxy").
func (r *request) connectPath(path string) string {
	if path != "" {
		path = "/" + path
	}
	if strings.HasSuffix(r.c.Request.URL.Path, "/") && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return path
}

// outbound is the request to send on: the client's, without the
// credentials it gave this apiserver, which are no business of the
// backend's (kube-apiserver drops them once it has authenticated).
func (r *request) outbound() *http.Request {
	out := r.c.Request.Clone(r.ctx())
	out.Header.Del("Authorization")
	for name := range out.Header {
		if strings.HasPrefix(name, "Impersonate-") {
			out.Header.Del(name)
		}
	}
	return out
}

// admitConnect judges a CONNECT of the request's subresource with its
// options, before anything is reached, as kube-apiserver admits
// connections.
func (r *request) admitConnect(opts runtime.Object) error {
	admit := r.api.opts.AdmitConnect
	if admit == nil {
		return nil
	}
	return admit(r.ctx(), r.desc, r.info.Namespace, r.info.Name, r.info.Subresource, opts)
}

// authorizeCreate authorizes a streaming request reached by GET (a
// WebSocket upgrade) for create too, as upstream's pods' exec, attach and
// portforward do: a POST was authorized for create already.
func (r *request) authorizeCreate() error {
	authorize := r.api.opts.AuthorizeVerb
	if authorize == nil || r.info.Verb == VerbCreate {
		return nil
	}
	return authorize(r.c.Request, VerbCreate)
}

// proxyResponder answers the errors of proxying (the backend cannot be
// reached) as a Status.
type proxyResponder struct{ r *request }

func (p proxyResponder) Error(_ http.ResponseWriter, _ *http.Request, err error) {
	p.r.fail(proxyError(err))
}

// proxyError is err as the Status kube-apiserver answers it: its own, or
// a 500 with the error's text.
func proxyError(err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return err
	}
	return statusError(http.StatusInternalServerError, metav1.StatusReasonUnknown, err.Error())
}

// proxyable reports whether a proxy may reach ip: global unicast
// addresses only, as Kubernetes, unless ProxyLoopback also allows
// loopback and link-local ones.
func (a *API) proxyable(ip net.IP) bool {
	if ip == nil {
		return false
	}
	if ip.IsGlobalUnicast() {
		return true
	}
	return a.opts.ProxyLoopback && (ip.IsLoopback() || ip.IsLinkLocalUnicast())
}

// podLocation resolves a pods/proxy name, "pod", "pod:port" or
// "scheme:pod:port", to the pod's IP and the port: the one named, else
// the first its containers declare, else none (the scheme's).
func (r *request) podLocation() (*url.URL, http.RoundTripper, error) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(r.info.Name)
	if !ok {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid pod request %q", r.info.Name))
	}
	obj, err := r.store.Get(r.ctx(), r.info.Namespace, name)
	if err != nil {
		return nil, nil, err
	}
	pod := obj.(*corev1.Pod)
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = strconv.Itoa(int(c.Ports[0].ContainerPort))
				break
			}
		}
	}
	ip := podIP(pod)
	if !r.api.proxyable(net.ParseIP(ip)) {
		return nil, nil, apierrors.NewBadRequest("address not allowed")
	}
	loc := &url.URL{Scheme: scheme, Host: ip}
	if port != "" {
		loc.Host = net.JoinHostPort(ip, port)
	} else if strings.Contains(ip, ":") {
		loc.Host = "[" + ip + "]"
	}
	return loc, r.api.opts.ProxyTransport, nil
}

// podIP is the pod's primary IP.
func podIP(pod *corev1.Pod) string {
	if len(pod.Status.PodIPs) > 0 {
		return pod.Status.PodIPs[0].IP
	}
	return pod.Status.PodIP
}

// serviceLocation resolves a services/proxy name, "svc", "svc:portname",
// "svc:port" or "scheme:svc:port", to a random ready endpoint of the
// Service's EndpointSlices for that port, as Kubernetes' service
// ResourceLocation: only endpoints that are the named pod's IP count.
func (r *request) serviceLocation() (*url.URL, http.RoundTripper, error) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(r.info.Name)
	if !ok {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid service request %q", r.info.Name))
	}
	// A port number names the Service port of that number.
	if num, err := strconv.ParseInt(port, 10, 64); err == nil {
		obj, err := r.store.Get(r.ctx(), r.info.Namespace, name)
		if err != nil {
			return nil, nil, err
		}
		found := false
		for _, p := range obj.(*corev1.Service).Spec.Ports {
			if int64(p.Port) == num {
				port, found = p.Name, true
				break
			}
		}
		if !found {
			return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %d found for service %q", num, name))
		}
	}
	slices, err := r.endpointSlices(name)
	if err != nil {
		return nil, nil, err
	}
	if len(slices) == 0 {
		return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	pods := r.storeOf("", "v1", "pods")
	hostPort, err := apiserverproxy.RandomEndpoint(name, slices, port, corev1.IPv4Protocol, func(ep *discoveryv1.Endpoint) bool {
		return r.isPodAddress(pods, ep)
	})
	if err != nil {
		return nil, nil, err
	}
	return &url.URL{Scheme: scheme, Host: hostPort}, r.api.opts.ProxyTransport, nil
}

// isPodAddress reports whether ep is a pod of the request's namespace at
// the address it says: a Service's proxy reaches pods only, not whatever
// an EndpointSlice written by hand points at.
func (r *request) isPodAddress(pods *genericstore.Store, ep *discoveryv1.Endpoint) bool {
	if pods == nil || ep.TargetRef == nil || ep.TargetRef.Namespace != r.info.Namespace || len(ep.Addresses) == 0 {
		return false
	}
	obj, err := pods.Get(r.ctx(), ep.TargetRef.Namespace, ep.TargetRef.Name)
	if err != nil {
		return false
	}
	for _, ip := range obj.(*corev1.Pod).Status.PodIPs {
		if ip.IP == ep.Addresses[0] {
			return true
		}
	}
	return false
}

// endpointSlices lists the EndpointSlices of the Service name in the
// request's namespace.
func (r *request) endpointSlices(name string) ([]*discoveryv1.EndpointSlice, error) {
	store := r.storeOf(discoveryv1.GroupName, "v1", "endpointslices")
	if store == nil {
		return nil, nil
	}
	obj, err := store.List(r.ctx(), genericstore.ListOptions{
		Namespace: r.info.Namespace,
		Label:     labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}),
		Field:     fields.Everything(),
	})
	if err != nil {
		return nil, err
	}
	list := obj.(*discoveryv1.EndpointSliceList)
	out := make([]*discoveryv1.EndpointSlice, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// storeOf is the store of another served kind, nil when it is not served.
func (r *request) storeOf(group, version, resource string) *genericstore.Store {
	d, ok := r.api.opts.Registry.Lookup(group, version, resource)
	if !ok {
		return nil
	}
	return r.api.opts.Store(d)
}

// nodeLocation resolves a nodes/proxy name, "node", "node:port" or
// "scheme:node:port", to the node's kubelet (no port, or the kubelet's:
// over HTTPS with the kubelet client certificate) or another port of the
// node's address, as Kubernetes' node ResourceLocation.
func (r *request) nodeLocation() (*url.URL, http.RoundTripper, error) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(r.info.Name)
	if !ok {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid node request %q", r.info.Name))
	}
	obj, err := r.store.Get(r.ctx(), "", name)
	if err != nil {
		return nil, nil, err
	}
	kubelet, err := kubeletURL(obj.(*corev1.Node))
	if err != nil {
		return nil, nil, err
	}
	host, kubeletPort, _ := net.SplitHostPort(kubelet.Host)
	if err := r.proxyableHost(host); err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	if port == "" || port == kubeletPort {
		if r.api.opts.KubeletTransport == nil {
			return nil, nil, apierrors.NewServiceUnavailable("this apiserver has no kubelet client")
		}
		return kubelet, r.api.opts.KubeletTransport, nil
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}, r.api.opts.ProxyTransport, nil
}

// proxyableHost checks every address a node's host name resolves to, as
// Kubernetes does before proxying to a node.
func (r *request) proxyableHost(host string) error {
	addrs, err := net.DefaultResolver.LookupIPAddr(r.ctx(), host)
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return errors.New("no addresses for hostname")
	}
	for _, a := range addrs {
		if !r.api.proxyable(a.IP) {
			return errors.New("address not allowed")
		}
	}
	return nil
}

// proxyOptionsKind names the options kind discovery gives a resource's
// proxy subresource: PodProxyOptions, ServiceProxyOptions,
// NodeProxyOptions.
func proxyOptionsKind(d *apiresource.Descriptor) string {
	return d.Kind + "ProxyOptions"
}
