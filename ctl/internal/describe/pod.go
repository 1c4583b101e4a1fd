package describe

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pod writes a pod's description: its node and IPs, each container's
// image, ports, command, state, last state, readiness, restarts,
// resources, probes, environment and mounts, the conditions, volumes,
// tolerations, and the events.
func Pod(out io.Writer, pod *corev1.Pod, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.meta(pod.ObjectMeta, true)
	if pod.Spec.Priority != nil {
		w.line(l0, "Priority:\t%d\n", *pod.Spec.Priority)
	}
	if pod.Spec.PriorityClassName != "" {
		w.line(l0, "Priority Class Name:\t%s\n", pod.Spec.PriorityClassName)
	}
	if pod.Spec.ServiceAccountName != "" {
		w.line(l0, "Service Account:\t%s\n", pod.Spec.ServiceAccountName)
	}
	if pod.Spec.NodeName == "" {
		w.line(l0, "Node:\t<none>\n")
	} else {
		w.line(l0, "Node:\t%s\n", pod.Spec.NodeName+"/"+pod.Status.HostIP)
	}
	if pod.Status.StartTime != nil {
		w.line(l0, "Start Time:\t%s\n", timestamp(*pod.Status.StartTime))
	}
	w.mapLines(l0, "Labels", pod.Labels)
	w.mapLines(l0, "Annotations", pod.Annotations)
	if pod.DeletionTimestamp != nil {
		w.line(l0, "Status:\tTerminating (lasts %s)\n", w.since(*pod.DeletionTimestamp))
		if pod.DeletionGracePeriodSeconds != nil {
			w.line(l0, "Termination Grace Period:\t%ds\n", *pod.DeletionGracePeriodSeconds)
		}
	} else {
		w.line(l0, "Status:\t%s\n", orNone(string(pod.Status.Phase)))
	}
	if pod.Status.Reason != "" {
		w.line(l0, "Reason:\t%s\n", pod.Status.Reason)
	}
	if pod.Status.Message != "" {
		w.line(l0, "Message:\t%s\n", pod.Status.Message)
	}
	w.line(l0, "IP:\t%s\n", pod.Status.PodIP)
	if len(pod.Status.PodIPs) == 0 {
		w.line(l0, "IPs:\t<none>\n")
	} else {
		w.line(l0, "IPs:\n")
		for _, ip := range pod.Status.PodIPs {
			w.line(l1, "IP:\t%s\n", ip.IP)
		}
	}
	if c := controlledBy(pod.ObjectMeta); c != "" {
		w.line(l0, "Controlled By:\t%s\n", c)
	}
	if len(pod.Spec.InitContainers) > 0 {
		w.containers("Init Containers", pod.Spec.InitContainers, pod.Status.InitContainerStatuses)
	}
	w.containers("Containers", pod.Spec.Containers, pod.Status.ContainerStatuses)
	if len(pod.Status.Conditions) > 0 {
		w.line(l0, "Conditions:\n")
		w.line(l1, "Type\tStatus\n")
		for _, c := range pod.Status.Conditions {
			w.line(l1, "%v \t%v \n", c.Type, c.Status)
		}
	}
	w.volumes(pod.Spec.Volumes)
	if pod.Status.QOSClass != "" {
		w.line(l0, "QoS Class:\t%s\n", pod.Status.QOSClass)
	}
	w.mapLines(l0, "Node-Selectors", pod.Spec.NodeSelector)
	w.stringList(l0, "Tolerations", tolerations(pod.Spec.Tolerations))
	w.events(events)
	return w.flush()
}

func (w *writer) containers(title string, containers []corev1.Container, statuses []corev1.ContainerStatus) {
	w.line(l0, "%s:\n", title)
	byName := map[string]corev1.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	for _, c := range containers {
		st, ok := byName[c.Name]
		w.line(l1, "%s:\n", c.Name)
		if ok {
			w.line(l2, "Container ID:\t%s\n", st.ContainerID)
		}
		w.line(l2, "Image:\t%s\n", c.Image)
		if ok {
			w.line(l2, "Image ID:\t%s\n", st.ImageID)
		}
		w.ports(c.Ports)
		if len(c.Command) > 0 {
			w.line(l2, "Command:\n")
			for _, a := range c.Command {
				w.line(l3, "%s\n", a)
			}
		}
		if len(c.Args) > 0 {
			w.line(l2, "Args:\n")
			for _, a := range c.Args {
				w.line(l3, "%s\n", a)
			}
		}
		if ok {
			w.state("State", st.State)
			if st.LastTerminationState.Running != nil || st.LastTerminationState.Waiting != nil || st.LastTerminationState.Terminated != nil {
				w.state("Last State", st.LastTerminationState)
			}
			w.line(l2, "Ready:\t%v\n", capitalize(fmt.Sprint(st.Ready)))
			w.line(l2, "Restart Count:\t%d\n", st.RestartCount)
		}
		w.resources("Limits", c.Resources.Limits)
		w.resources("Requests", c.Resources.Requests)
		w.probe("Liveness", c.LivenessProbe)
		w.probe("Readiness", c.ReadinessProbe)
		w.probe("Startup", c.StartupProbe)
		w.env(c)
		w.mounts(c.VolumeMounts)
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (w *writer) ports(ports []corev1.ContainerPort) {
	if len(ports) == 0 {
		w.line(l2, "Port:\t<none>\n")
		w.line(l2, "Host Port:\t<none>\n")
		return
	}
	var p, hp []string
	for _, port := range ports {
		p = append(p, fmt.Sprintf("%d/%s", port.ContainerPort, protocol(port.Protocol)))
		hp = append(hp, fmt.Sprintf("%d/%s", port.HostPort, protocol(port.Protocol)))
	}
	label := "Port"
	if len(ports) > 1 {
		label = "Ports"
	}
	w.line(l2, "%s:\t%s\n", label, strings.Join(p, ", "))
	w.line(l2, "Host %s:\t%s\n", label, strings.Join(hp, ", "))
}

func protocol(p corev1.Protocol) string {
	if p == "" {
		return "TCP"
	}
	return string(p)
}

func (w *writer) state(title string, s corev1.ContainerState) {
	switch {
	case s.Running != nil:
		w.line(l2, "%s:\tRunning\n", title)
		w.line(l3, "Started:\t%s\n", timestamp(s.Running.StartedAt))
	case s.Waiting != nil:
		w.line(l2, "%s:\tWaiting\n", title)
		if s.Waiting.Reason != "" {
			w.line(l3, "Reason:\t%s\n", s.Waiting.Reason)
		}
		if s.Waiting.Message != "" {
			w.line(l3, "Message:\t%s\n", s.Waiting.Message)
		}
	case s.Terminated != nil:
		t := s.Terminated
		w.line(l2, "%s:\tTerminated\n", title)
		if t.Reason != "" {
			w.line(l3, "Reason:\t%s\n", t.Reason)
		}
		if t.Message != "" {
			w.line(l3, "Message:\t%s\n", t.Message)
		}
		w.line(l3, "Exit Code:\t%d\n", t.ExitCode)
		if t.Signal > 0 {
			w.line(l3, "Signal:\t%d\n", t.Signal)
		}
		w.line(l3, "Started:\t%s\n", timestamp(t.StartedAt))
		w.line(l3, "Finished:\t%s\n", timestamp(t.FinishedAt))
	default:
		w.line(l2, "%s:\tWaiting\n", title)
	}
}

func (w *writer) resources(title string, rl corev1.ResourceList) {
	if len(rl) == 0 {
		return
	}
	w.line(l2, "%s:\n", title)
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		q := rl[corev1.ResourceName(n)]
		w.line(l3, "%s:\t%s\n", n, q.String())
	}
}

// probe is kubectl's one-line probe summary.
func (w *writer) probe(title string, p *corev1.Probe) {
	if p == nil {
		return
	}
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
	var action string
	switch {
	case p.Exec != nil:
		action = fmt.Sprintf("exec %v", p.Exec.Command)
	case p.HTTPGet != nil:
		scheme := strings.ToLower(string(p.HTTPGet.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		action = fmt.Sprintf("http-get %s://%s:%s%s", scheme, p.HTTPGet.Host, portString(p.HTTPGet.Port), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		action = fmt.Sprintf("tcp-socket %s:%s", p.TCPSocket.Host, portString(p.TCPSocket.Port))
	case p.GRPC != nil:
		action = fmt.Sprintf("grpc <pod>:%d", p.GRPC.Port)
	default:
		action = "unknown"
	}
	w.line(l2, "%s:\t%s %s\n", title, action, attrs)
}

func portString(p intstr.IntOrString) string { return p.String() }

func (w *writer) env(c corev1.Container) {
	if len(c.Env) == 0 && len(c.EnvFrom) == 0 {
		w.line(l2, "Environment:\t<none>\n")
		return
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			w.line(l2, "Environment Variables from:\n")
			w.line(l3, "%s\tConfigMap\tOptional: %v\n", from.ConfigMapRef.Name, from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional)
		case from.SecretRef != nil:
			w.line(l2, "Environment Variables from:\n")
			w.line(l3, "%s\tSecret\tOptional: %v\n", from.SecretRef.Name, from.SecretRef.Optional != nil && *from.SecretRef.Optional)
		}
	}
	if len(c.Env) == 0 {
		w.line(l2, "Environment:\t<none>\n")
		return
	}
	w.line(l2, "Environment:\n")
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			w.line(l3, "%s:\t%s\n", e.Name, e.Value)
		case e.ValueFrom.FieldRef != nil:
			w.line(l3, "%s:\t (%s:%s)\n", e.Name, e.ValueFrom.FieldRef.APIVersion, e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			w.line(l3, "%s:\t<set to the key '%s' of config map '%s'>\n", e.Name, e.ValueFrom.ConfigMapKeyRef.Key, e.ValueFrom.ConfigMapKeyRef.Name)
		case e.ValueFrom.SecretKeyRef != nil:
			w.line(l3, "%s:\t<set to the key '%s' in secret '%s'>\n", e.Name, e.ValueFrom.SecretKeyRef.Key, e.ValueFrom.SecretKeyRef.Name)
		case e.ValueFrom.ResourceFieldRef != nil:
			w.line(l3, "%s:\t%s\n", e.Name, e.ValueFrom.ResourceFieldRef.Resource)
		}
	}
}

func (w *writer) mounts(ms []corev1.VolumeMount) {
	if len(ms) == 0 {
		w.line(l2, "Mounts:\t<none>\n")
		return
	}
	w.line(l2, "Mounts:\n")
	sorted := append([]corev1.VolumeMount(nil), ms...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].MountPath < sorted[j].MountPath })
	for _, m := range sorted {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		var extra []string
		extra = append(extra, mode)
		if m.SubPath != "" {
			extra = append(extra, "path=\""+m.SubPath+"\"")
		}
		w.line(l3, "%s from %s (%s)\n", m.MountPath, m.Name, strings.Join(extra, ","))
	}
}

func (w *writer) volumes(vols []corev1.Volume) {
	if len(vols) == 0 {
		w.line(l0, "Volumes:\t<none>\n")
		return
	}
	w.line(l0, "Volumes:\n")
	for _, v := range vols {
		w.line(l1, "%s:\n", v.Name)
		s := v.VolumeSource
		switch {
		case s.EmptyDir != nil:
			w.line(l2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n")
			w.line(l2, "Medium:\t%s\n", s.EmptyDir.Medium)
			if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) > 0 {
				w.line(l2, "SizeLimit:\t%s\n", s.EmptyDir.SizeLimit.String())
			} else {
				w.line(l2, "SizeLimit:\t<unset>\n")
			}
		case s.HostPath != nil:
			w.line(l2, "Type:\tHostPath (bare host directory volume)\n")
			w.line(l2, "Path:\t%s\n", s.HostPath.Path)
			t := ""
			if s.HostPath.Type != nil {
				t = string(*s.HostPath.Type)
			}
			w.line(l2, "HostPathType:\t%s\n", t)
		case s.ConfigMap != nil:
			w.line(l2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n")
			w.line(l2, "Name:\t%s\n", s.ConfigMap.Name)
			w.line(l2, "Optional:\t%v\n", s.ConfigMap.Optional != nil && *s.ConfigMap.Optional)
		case s.Secret != nil:
			w.line(l2, "Type:\tSecret (a volume populated by a Secret)\n")
			w.line(l2, "SecretName:\t%s\n", s.Secret.SecretName)
			w.line(l2, "Optional:\t%v\n", s.Secret.Optional != nil && *s.Secret.Optional)
		case s.PersistentVolumeClaim != nil:
			w.line(l2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n")
			w.line(l2, "ClaimName:\t%s\n", s.PersistentVolumeClaim.ClaimName)
			w.line(l2, "ReadOnly:\t%v\n", s.PersistentVolumeClaim.ReadOnly)
		case s.Projected != nil:
			w.line(l2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
		default:
			w.line(l2, "Type:\t<unknown>\n")
		}
	}
}

// tolerations are kubectl's one-line tolerations.
func tolerations(ts []corev1.Toleration) []string {
	var out []string
	for _, t := range ts {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + string(t.Effect)
		}
		if t.Operator == corev1.TolerationOpExists && t.Value == "" {
			if t.Key != "" || t.Effect != "" {
				s += " op=Exists"
			} else {
				s = "op=Exists"
			}
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		out = append(out, s)
	}
	return out
}
