package describe

import (
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Deployment writes a deployment's description: selector, replica
// counts, strategy, pod template, conditions, its old and new replica
// sets, and the events. newRS may be nil.
func Deployment(out io.Writer, d *appsv1.Deployment, oldRSs []appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.meta(d.ObjectMeta, true)
	w.line(l0, "CreationTimestamp:\t%s\n", timestamp(d.CreationTimestamp))
	w.mapLines(l0, "Labels", d.Labels)
	w.mapLines(l0, "Annotations", d.Annotations)
	w.line(l0, "Selector:\t%s\n", selectorString(d.Spec.Selector))
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	s := d.Status
	w.line(l0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable\n", desired, s.UpdatedReplicas, s.Replicas, s.AvailableReplicas, s.UnavailableReplicas)
	w.line(l0, "StrategyType:\t%s\n", d.Spec.Strategy.Type)
	w.line(l0, "MinReadySeconds:\t%d\n", d.Spec.MinReadySeconds)
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		w.line(l0, "RollingUpdateStrategy:\t%s max unavailable, %s max surge\n", intOrStr(ru.MaxUnavailable), intOrStr(ru.MaxSurge))
	}
	w.podTemplate(&d.Spec.Template)
	if len(s.Conditions) > 0 {
		w.line(l0, "Conditions:\n")
		w.line(l1, "Type\tStatus\tReason\n")
		w.line(l1, "----\t------\t------\n")
		for _, c := range s.Conditions {
			w.line(l1, "%v \t%v\t%v\n", c.Type, c.Status, c.Reason)
		}
	}
	var old []string
	for _, rs := range oldRSs {
		old = append(old, rsSummary(&rs))
	}
	if len(old) == 0 {
		w.line(l0, "OldReplicaSets:\t<none>\n")
	} else {
		w.line(l0, "OldReplicaSets:\t%s\n", joinComma(old))
	}
	if newRS == nil {
		w.line(l0, "NewReplicaSet:\t<none>\n")
	} else {
		w.line(l0, "NewReplicaSet:\t%s\n", rsSummary(newRS))
	}
	w.events(events)
	return w.flush()
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

func rsSummary(rs *appsv1.ReplicaSet) string {
	desired := int32(0)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	return fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, desired)
}

func intOrStr(v *intstr.IntOrString) string {
	if v == nil {
		return "<nil>"
	}
	return v.String()
}

func selectorString(sel *metav1.LabelSelector) string {
	if sel == nil {
		return "<none>"
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<error>"
	}
	return orNone(s.String())
}

// PodTemplate writes a pod template alone (rollout history --revision).
func PodTemplate(out io.Writer, t *corev1.PodTemplateSpec) error {
	w := newWriter(out, time.Time{})
	w.podTemplate(t)
	return w.flush()
}

// podTemplate writes a pod template as kubectl's workload describers do.
func (w *writer) podTemplate(t *corev1.PodTemplateSpec) {
	w.line(l0, "Pod Template:\n")
	w.mapLines(l1, "Labels", t.Labels)
	if len(t.Annotations) > 0 {
		w.mapLines(l1, "Annotations", t.Annotations)
	}
	if t.Spec.ServiceAccountName != "" {
		w.line(l1, "Service Account:\t%s\n", t.Spec.ServiceAccountName)
	}
	if len(t.Spec.InitContainers) > 0 {
		w.templateContainers("Init Containers", t.Spec.InitContainers)
	}
	w.templateContainers("Containers", t.Spec.Containers)
	if len(t.Spec.Volumes) == 0 {
		w.line(l1, "Volumes:\t<none>\n")
	} else {
		w.line(l1, "Volumes:\n")
		for _, v := range t.Spec.Volumes {
			w.line(l2, "%s\n", v.Name)
		}
	}
	w.mapLines(l1, "Node-Selectors", t.Spec.NodeSelector)
	w.stringList(l1, "Tolerations", tolerations(t.Spec.Tolerations))
}

func (w *writer) templateContainers(title string, cs []corev1.Container) {
	w.line(l1, "%s:\n", title)
	for _, c := range cs {
		w.line(l1, " %s:\n", c.Name)
		w.line(l2, "Image:\t%s\n", c.Image)
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
		w.resources("Limits", c.Resources.Limits)
		w.resources("Requests", c.Resources.Requests)
		w.probe("Liveness", c.LivenessProbe)
		w.probe("Readiness", c.ReadinessProbe)
		w.env(c)
		w.mounts(c.VolumeMounts)
	}
}

// ReplicaSet writes a replica set's description: selector, owner,
// replica counts, the phases of its pods, pod template, and events.
func ReplicaSet(out io.Writer, rs *appsv1.ReplicaSet, pods []corev1.Pod, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.meta(rs.ObjectMeta, true)
	w.line(l0, "Selector:\t%s\n", selectorString(rs.Spec.Selector))
	w.mapLines(l0, "Labels", rs.Labels)
	w.mapLines(l0, "Annotations", rs.Annotations)
	if c := controlledBy(rs.ObjectMeta); c != "" {
		w.line(l0, "Controlled By:\t%s\n", c)
	}
	desired := int32(1)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	w.line(l0, "Replicas:\t%d current / %d desired\n", rs.Status.Replicas, desired)
	var running, waiting, succeeded, failed int
	for _, p := range pods {
		switch p.Status.Phase {
		case corev1.PodRunning:
			running++
		case corev1.PodPending:
			waiting++
		case corev1.PodSucceeded:
			succeeded++
		case corev1.PodFailed:
			failed++
		}
	}
	w.line(l0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed\n", running, waiting, succeeded, failed)
	w.podTemplate(&rs.Spec.Template)
	if len(rs.Status.Conditions) > 0 {
		w.line(l0, "Conditions:\n")
		w.line(l1, "Type\tStatus\tReason\n")
		w.line(l1, "----\t------\t------\n")
		for _, c := range rs.Status.Conditions {
			w.line(l1, "%v \t%v\t%v\n", c.Type, c.Status, c.Reason)
		}
	}
	w.events(events)
	return w.flush()
}
