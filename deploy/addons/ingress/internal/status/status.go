// Package status decides the status.loadBalancer of Ingresses, as
// ingress-nginx's --publish-service does: every Ingress the controller
// serves shows the addresses of the controller's own Service, and an
// Ingress it no longer serves is cleared of them.
package status

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Addresses are the addresses svc is reached at, as an Ingress shows
// them: a LoadBalancer's ingress points and external IPs; a NodePort's
// external IPs, else its cluster IP; a ClusterIP's cluster IP; an
// ExternalName's name. Each address appears once, in the Service's order.
func Addresses(svc *corev1.Service) []networkingv1.IngressLoadBalancerIngress {
	var out []networkingv1.IngressLoadBalancerIngress
	seen := map[string]bool{}
	add := func(ip, hostname string, ports []networkingv1.IngressPortStatus) {
		k := ip + "|" + hostname
		if (ip == "" && hostname == "") || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip, Hostname: hostname, Ports: ports})
	}
	clusterIP := func() {
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			add(svc.Spec.ClusterIP, "", nil)
		}
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeExternalName:
		add("", svc.Spec.ExternalName, nil)
	case corev1.ServiceTypeLoadBalancer:
		for _, lb := range svc.Status.LoadBalancer.Ingress {
			add(lb.IP, lb.Hostname, ports(lb.Ports))
		}
		for _, ip := range svc.Spec.ExternalIPs {
			add(ip, "", nil)
		}
	case corev1.ServiceTypeNodePort:
		for _, ip := range svc.Spec.ExternalIPs {
			add(ip, "", nil)
		}
		if len(out) == 0 {
			clusterIP()
		}
	default:
		clusterIP()
	}
	return out
}

func ports(ps []corev1.PortStatus) []networkingv1.IngressPortStatus {
	var out []networkingv1.IngressPortStatus
	for _, p := range ps {
		out = append(out, networkingv1.IngressPortStatus{Port: p.Port, Protocol: p.Protocol, Error: p.Error})
	}
	return out
}

// Desired is the load-balancer status an Ingress should have, and
// whether it must be written. served says the controller serves it;
// ours that the controller wrote its status before (so it must clear it
// once it stops serving); published are the controller's addresses. An
// Ingress showing exactly the published addresses counts as ours too, so
// a restarted controller still clears what it wrote.
func Desired(served, ours bool, current, published []networkingv1.IngressLoadBalancerIngress) (want []networkingv1.IngressLoadBalancerIngress, write bool) {
	switch {
	case served:
		want = published
	case ours || (len(published) > 0 && Equal(current, published)):
		want = nil
	default:
		return current, false
	}
	return want, !Equal(current, want)
}

// Equal reports whether two load-balancer statuses are the same; nil and
// empty are.
func Equal(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP || a[i].Hostname != b[i].Hostname || len(a[i].Ports) != len(b[i].Ports) {
			return false
		}
		for j := range a[i].Ports {
			p, q := a[i].Ports[j], b[i].Ports[j]
			if p.Port != q.Port || p.Protocol != q.Protocol || !equalStringPtr(p.Error, q.Error) {
				return false
			}
		}
	}
	return true
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
