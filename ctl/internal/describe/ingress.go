package describe

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Backend is what one Service an Ingress routes to resolves to when the
// description is written: the Service and the EndpointSlices labelled
// with its name, or the error met reading them.
type Backend struct {
	Service *corev1.Service
	Slices  []discoveryv1.EndpointSlice
	Err     error
}

// maxEndpoints is how many endpoints a backend lists before "+ N more...".
const maxEndpoints = 3

// Ingress writes an Ingress's description as kubectl does: its address,
// class and default backend, the hosts its TLS certificates terminate,
// and a Host / Path / Backends table in which each Service backend shows
// the ready endpoints of the port it names. backends holds, by Service
// name, every Service the Ingress names; one missing from it is
// described as not found.
func Ingress(out io.Writer, ing *networkingv1.Ingress, backends map[string]Backend, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", ing.Name)
	w.mapLines(l0, "Labels", ing.Labels)
	w.line(l0, "Namespace:\t%s\n", ing.Namespace)
	w.line(l0, "Address:\t%s\n", ingressAddress(ing.Status.LoadBalancer))
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	w.line(l0, "Ingress Class:\t%s\n", class)
	def := "<default>"
	if ing.Spec.DefaultBackend != nil {
		def = ingressBackend(ing.Spec.DefaultBackend, backends)
	}
	w.line(l0, "Default backend:\t%s\n", def)
	if len(ing.Spec.TLS) > 0 {
		w.line(l0, "TLS:\n")
		for _, t := range ing.Spec.TLS {
			if t.SecretName == "" {
				w.line(l1, "SNI routes %s\n", strings.Join(t.Hosts, ","))
				continue
			}
			w.line(l1, "%s terminates %s\n", t.SecretName, strings.Join(t.Hosts, ","))
		}
	}
	w.line(l0, "Rules:\n")
	w.line(l1, "Host\tPath\tBackends\n")
	w.line(l1, "----\t----\t--------\n")
	rules := 0
	for _, r := range ing.Spec.Rules {
		// A rule without HTTP paths routes nothing of its own: its host
		// falls to the default backend, so kubectl leaves it out.
		if r.HTTP == nil {
			continue
		}
		rules++
		host := r.Host
		if host == "" {
			host = "*"
		}
		w.line(l1, "%s\t\n", host)
		for _, p := range r.HTTP.Paths {
			// The space after the path is kubectl's, kept so the columns
			// line up byte for byte with its output.
			w.line(l2, "\t%s \t%s\n", p.Path, ingressBackend(&p.Backend, backends))
		}
	}
	if rules == 0 {
		w.line(l1, "*\t*\t%s\n", def)
	}
	w.mapLines(l0, "Annotations", ing.Annotations)
	w.events(events)
	return w.flush()
}

// ingressAddress joins the load balancer's addresses, each an IP or else
// a hostname, sorted and without repeats, as kubectl's wide output does.
func ingressAddress(lb networkingv1.IngressLoadBalancerStatus) string {
	seen := map[string]bool{}
	var addrs []string
	for _, in := range lb.Ingress {
		a := in.IP
		if a == "" {
			a = in.Hostname
		}
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	return strings.Join(addrs, ",")
}

// ingressBackend is one backend as kubectl prints it: "svc:port
// (endpoints)", "svc:port (<error: ...>)" when the Service or its slices
// cannot be read, or the group, kind and name of a resource backend.
func ingressBackend(b *networkingv1.IngressBackend, backends map[string]Backend) string {
	if s := b.Service; s != nil {
		name := s.Name + ":" + s.Port.Name
		if s.Port.Number != 0 {
			name = s.Name + ":" + strconv.Itoa(int(s.Port.Number))
		}
		resolved, ok := backends[s.Name]
		if !ok {
			resolved.Err = apierrors.NewNotFound(corev1.Resource("services"), s.Name)
		}
		if resolved.Err != nil {
			return fmt.Sprintf("%s (<error: %v>)", name, resolved.Err)
		}
		return fmt.Sprintf("%s (%s)", name, sliceEndpoints(resolved.Slices, servicePortName(resolved.Service, s.Port)))
	}
	if r := b.Resource; r != nil {
		group := "<none>"
		if r.APIGroup != nil {
			group = *r.APIGroup
		}
		return fmt.Sprintf("APIGroup: %s, Kind: %s, Name: %s", group, r.Kind, r.Name)
	}
	return ""
}

// servicePortName is the name of the Service port an Ingress backend
// names by number or by name: EndpointSlices carry port names, not the
// Service's port numbers. A port the Service lacks yields "", the name of
// a Service's single unnamed port, as kubectl's lookup does.
func servicePortName(svc *corev1.Service, port networkingv1.ServiceBackendPort) string {
	if svc == nil {
		return ""
	}
	name := ""
	for _, sp := range svc.Spec.Ports {
		if port.Number != 0 && port.Number == sp.Port || port.Name != "" && port.Name == sp.Name {
			name = sp.Name
		}
	}
	return name
}

// sliceEndpoints lists the ready endpoints of the slices' port named
// portName as "ip:port", at most three and then "+ N more...": "<none>"
// when there is no slice, the bare addresses for a headless Service's
// port-less slices. An endpoint whose readiness is unknown counts as
// ready, as the EndpointSlice API says consumers should read it.
//
// kubectl counts an unready endpoint met after the third into "more" and
// can print "+ 0 more..."; only ready endpoints are counted here.
func sliceEndpoints(slices []discoveryv1.EndpointSlice, portName string) string {
	if len(slices) == 0 {
		return "<none>"
	}
	var list []string
	for _, s := range slices {
		if len(s.Ports) == 0 {
			for _, e := range s.Endpoints {
				if ready(e) {
					list = append(list, e.Addresses[0])
				}
			}
			continue
		}
		for _, p := range s.Ports {
			if p.Port == nil || portNameOf(p) != portName {
				continue
			}
			for _, e := range s.Endpoints {
				if ready(e) {
					list = append(list, net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(*p.Port))))
				}
			}
		}
	}
	if len(list) > maxEndpoints {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:maxEndpoints], ","), len(list)-maxEndpoints)
	}
	return strings.Join(list, ",")
}

// ready is whether an endpoint takes traffic: it has an address and is
// not marked unready.
func ready(e discoveryv1.Endpoint) bool {
	return len(e.Addresses) > 0 && (e.Conditions.Ready == nil || *e.Conditions.Ready)
}

func portNameOf(p discoveryv1.EndpointPort) string {
	if p.Name == nil {
		return ""
	}
	return *p.Name
}

// IngressClass writes an IngressClass's description as kubectl does: the
// controller that implements it and the parameters it passes that
// controller.
func IngressClass(out io.Writer, ic *networkingv1.IngressClass, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", ic.Name)
	w.mapLines(l0, "Labels", ic.Labels)
	w.mapLines(l0, "Annotations", ic.Annotations)
	w.line(l0, "Controller:\t%s\n", ic.Spec.Controller)
	if p := ic.Spec.Parameters; p != nil {
		w.line(l0, "Parameters:\n")
		if p.APIGroup != nil {
			w.line(l1, "APIGroup:\t%s\n", *p.APIGroup)
		}
		w.line(l1, "Kind:\t%s\n", p.Kind)
		w.line(l1, "Name:\t%s\n", p.Name)
	}
	w.events(events)
	return w.flush()
}
