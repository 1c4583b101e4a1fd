package describe

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Service writes a service's description: selector, type, IPs, each port
// with its target port, node port and endpoints, session affinity and the
// events. endpoints may be nil.
func Service(out io.Writer, svc *corev1.Service, endpoints *corev1.Endpoints, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.meta(svc.ObjectMeta, true)
	w.mapLines(l0, "Labels", svc.Labels)
	w.mapLines(l0, "Annotations", svc.Annotations)
	w.line(l0, "Selector:\t%s\n", orNone(selectorMap(svc.Spec.Selector)))
	w.line(l0, "Type:\t%s\n", svc.Spec.Type)
	if svc.Spec.IPFamilyPolicy != nil {
		w.line(l0, "IP Family Policy:\t%s\n", *svc.Spec.IPFamilyPolicy)
	}
	if len(svc.Spec.IPFamilies) > 0 {
		var fams []string
		for _, f := range svc.Spec.IPFamilies {
			fams = append(fams, string(f))
		}
		w.line(l0, "IP Families:\t%s\n", strings.Join(fams, ","))
	}
	w.line(l0, "IP:\t%s\n", svc.Spec.ClusterIP)
	if len(svc.Spec.ClusterIPs) > 0 {
		w.line(l0, "IPs:\t%s\n", strings.Join(svc.Spec.ClusterIPs, ","))
	}
	if len(svc.Spec.ExternalIPs) > 0 {
		w.line(l0, "External IPs:\t%s\n", strings.Join(svc.Spec.ExternalIPs, ","))
	}
	if svc.Spec.ExternalName != "" {
		w.line(l0, "External Name:\t%s\n", svc.Spec.ExternalName)
	}
	for _, p := range svc.Spec.Ports {
		name := p.Name
		if name == "" {
			name = "<unset>"
		}
		w.line(l0, "Port:\t%s\t%d/%s\n", name, p.Port, protocol(p.Protocol))
		if p.TargetPort.Type == 0 {
			w.line(l0, "TargetPort:\t%d/%s\n", p.TargetPort.IntVal, protocol(p.Protocol))
		} else {
			w.line(l0, "TargetPort:\t%s/%s\n", p.TargetPort.StrVal, protocol(p.Protocol))
		}
		if p.NodePort != 0 {
			w.line(l0, "NodePort:\t%s\t%d/%s\n", name, p.NodePort, protocol(p.Protocol))
		}
		w.line(l0, "Endpoints:\t%s\n", endpointsFor(endpoints, p.Name))
	}
	w.line(l0, "Session Affinity:\t%s\n", svc.Spec.SessionAffinity)
	if svc.Spec.ExternalTrafficPolicy != "" {
		w.line(l0, "External Traffic Policy:\t%s\n", svc.Spec.ExternalTrafficPolicy)
	}
	if svc.Spec.InternalTrafficPolicy != nil {
		w.line(l0, "Internal Traffic Policy:\t%s\n", *svc.Spec.InternalTrafficPolicy)
	}
	w.events(events)
	return w.flush()
}

func selectorMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// endpointsFor lists the ready addresses serving one service port, at
// most three and "+ N more...".
func endpointsFor(ep *corev1.Endpoints, portName string) string {
	if ep == nil {
		return "<none>"
	}
	var list []string
	for _, ss := range ep.Subsets {
		for _, port := range ss.Ports {
			if port.Name != portName {
				continue
			}
			for _, a := range ss.Addresses {
				list = append(list, fmt.Sprintf("%s:%d", a.IP, port.Port))
			}
		}
	}
	if len(list) == 0 {
		return "<none>"
	}
	if len(list) > 3 {
		return strings.Join(list[:3], ",") + fmt.Sprintf(" + %d more...", len(list)-3)
	}
	return strings.Join(list, ",")
}

// Namespace writes a namespace's description as kubectl does: status,
// conditions, its ResourceQuotas' used and hard, and its LimitRanges.
func Namespace(out io.Writer, ns *corev1.Namespace, quotas []corev1.ResourceQuota, limits []corev1.LimitRange, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", ns.Name)
	w.mapLines(l0, "Labels", ns.Labels)
	w.mapLines(l0, "Annotations", ns.Annotations)
	w.line(l0, "Status:\t%s\n", ns.Status.Phase)
	if len(ns.Status.Conditions) > 0 {
		w.line(l0, "Conditions:\n")
		w.line(l1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
		w.line(l1, "----\t------\t------------------\t------\t-------\n")
		for _, c := range ns.Status.Conditions {
			w.line(l1, "%s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.LastTransitionTime.Time.Format(time.RFC1123Z), c.Reason, c.Message)
		}
	}
	w.line(l0, "\n")
	w.quotasSection(quotas)
	w.line(l0, "\n")
	w.limitRangesSection(limits)
	if len(events) > 0 {
		w.line(l0, "\n")
		w.events(events)
	}
	return w.flush()
}
