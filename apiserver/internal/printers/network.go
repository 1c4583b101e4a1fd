package printers

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"

	"coracle.dev/apiserver/internal/apiresource"
)

// Service columns: Name, Type, Cluster-IP, External-IP, Port(s), Age;
// wide Selector.
func Service() *apiresource.Table {
	doc := corev1.ServiceSpec{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string", doc["type"]),
		column("Cluster-IP", "string", doc["clusterIP"]),
		column("External-IP", "string", doc["externalIPs"]),
		column("Port(s)", "string", doc["ports"]),
		ageColumn(),
		wideColumn("Selector", "string", doc["selector"]),
	}, serviceCells)
}

func serviceCells(svc *corev1.Service, now time.Time) []interface{} {
	// The API keeps clusterIP and clusterIPs[0] equal; read the list first
	// as Kubernetes does, the single field for objects written without it.
	clusterIP := svc.Spec.ClusterIP
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	return []interface{}{
		svc.Name,
		string(svc.Spec.Type),
		noneIfEmpty(clusterIP),
		serviceExternalIP(svc),
		noneIfEmpty(servicePorts(svc.Spec.Ports)),
		since(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// serviceExternalIP is what the External-IP column says for each type:
// the external IPs, the load balancer's ingress points ("<pending>" until
// it has some) or the external name.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return noneIfEmpty(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		var points []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			points = append(points, firstNonEmpty(in.IP, in.Hostname))
		}
		all := append(ingressPoints(points), svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// ingressPoints sorts load balancer ingress points and drops duplicates
// and empty ones. The table is always rendered wide, so nothing is clipped.
func ingressPoints(points []string) []string {
	set := sets.New[string]()
	for _, p := range points {
		if p != "" {
			set.Insert(p)
		}
	}
	return sets.List(set)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// servicePorts is "80/TCP", or "80:30080/TCP" with a node port, comma
// separated.
func servicePorts(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	return strings.Join(parts, ",")
}

// Endpoints columns: Name, Endpoints, Age.
func Endpoints() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
		ageColumn(),
	}, endpointsCells)
}

func endpointsCells(ep *corev1.Endpoints, now time.Time) []interface{} {
	return []interface{}{ep.Name, formatEndpoints(ep), since(ep.CreationTimestamp, now)}
}

// formatEndpoints lists the first three ip:port pairs (bare IPs for
// subsets without ports) and counts the rest: "10.0.0.1:80 + 3 more...".
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	add := func(s string) {
		if len(list) < max {
			list = append(list, s)
		}
		count++
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	out := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", out, count-max)
	}
	return out
}

// EndpointSlice columns: Name, AddressType, Ports, Endpoints, Age.
func EndpointSlice() *apiresource.Table {
	doc := discoveryv1.EndpointSlice{}.SwaggerDoc()
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("AddressType", "string", doc["addressType"]),
		column("Ports", "string", doc["ports"]),
		column("Endpoints", "string", doc["endpoints"]),
		ageColumn(),
	}, endpointSliceCells)
}

func endpointSliceCells(es *discoveryv1.EndpointSlice, now time.Time) []interface{} {
	ports := make([]string, len(es.Ports))
	for i, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports[i] = strconv.Itoa(int(*p.Port))
		case p.Name != nil:
			ports[i] = *p.Name
		default:
			ports[i] = "*"
		}
	}
	var addresses []string
	for _, e := range es.Endpoints {
		addresses = append(addresses, e.Addresses...)
	}
	return []interface{}{es.Name, string(es.AddressType), listWithMore(ports), listWithMore(addresses), since(es.CreationTimestamp, now)}
}

// Ingress columns: Name, Class, Hosts, Address, Ports, Age.
func Ingress() *apiresource.Table {
	return newTable([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
		column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
		column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
		column("Ports", "string", "Ports of TLS configurations that open"),
		ageColumn(),
	}, ingressCells)
}

func ingressCells(ing *networkingv1.Ingress, now time.Time) []interface{} {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	var points []string
	for _, in := range ing.Status.LoadBalancer.Ingress {
		points = append(points, firstNonEmpty(in.IP, in.Hostname))
	}
	ports := "80"
	if len(ing.Spec.TLS) > 0 {
		ports = "80, 443"
	}
	return []interface{}{ing.Name, class, ingressHosts(ing.Spec.Rules), strings.Join(ingressPoints(points), ","), ports, since(ing.CreationTimestamp, now)}
}

// ingressHosts lists the first three hosts ("*" if no rule has one) and,
// once a fourth rule follows them, counts the rules beyond three.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var hosts []string
	more := false
	for _, r := range rules {
		if len(hosts) == max {
			more = true
			break
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	out := strings.Join(hosts, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", out, len(rules)-max)
	}
	return out
}
