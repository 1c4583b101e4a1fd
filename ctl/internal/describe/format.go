// Package describe writes the readable, sectioned descriptions of `ctl
// describe`: pods, nodes, deployments, replica sets, services,
// namespaces, resource quotas, limit ranges and certificate signing
// requests with sections of their own, any other kind through a generic walk of its fields, and every
// description ending with the object's events — the first thing a
// person reads when something fails. The describers are pure functions
// of the objects and a clock, so golden files pin their output; Fetch
// reads what they need from the server.
package describe

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Indentation levels, two spaces each, as kubectl's describers indent.
const (
	l0 = iota
	l1
	l2
	l3
	l4
)

// writer writes indented "Key:\tvalue" lines into a tab writer that
// aligns each block of consecutive lines.
type writer struct {
	tw  *tabwriter.Writer
	now time.Time
}

func newWriter(out io.Writer, now time.Time) *writer {
	return &writer{tw: tabwriter.NewWriter(out, 0, 8, 2, ' ', 0), now: now}
}

func (w *writer) line(level int, format string, args ...any) {
	fmt.Fprintf(w.tw, strings.Repeat("  ", level)+format, args...)
}

func (w *writer) flush() error { return w.tw.Flush() }

// since is kubectl's age: "5m", "3d".
func (w *writer) since(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(w.now.Sub(t.Time))
}

// timestamp is kubectl's RFC1123Z time.
func timestamp(t metav1.Time) string {
	if t.IsZero() {
		return "<unset>"
	}
	return t.Time.UTC().Format(time.RFC1123Z)
}

// orNone is "<none>" for the empty string.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// mapLines prints a map (labels, annotations, selectors) as kubectl does:
// the first key on the title's line, the others under it. Annotations
// leave out kubectl's last-applied configuration, and a long or
// multi-line value goes under its key, a line at a time, each cut at 138
// characters.
func (w *writer) mapLines(level int, title string, m map[string]string) {
	w.line(level, "%s:\t", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		if title == "Annotations" && k == corev1.LastAppliedConfigAnnotation {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		w.line(0, "<none>\n")
		return
	}
	sort.Strings(keys)
	for i, k := range keys {
		v := m[k]
		if i > 0 {
			w.line(level, "\t")
		}
		if title != "Annotations" {
			w.line(0, "%s=%s\n", k, v)
			continue
		}
		v = strings.TrimSuffix(v, "\n")
		if len(k)+len(v)+2 <= maxAnnotationLen && !strings.Contains(v, "\n") {
			w.line(0, "%s: %s\n", k, v)
			continue
		}
		w.line(0, "%s:\n", k)
		for _, part := range strings.Split(v, "\n") {
			if len(part) > maxAnnotationLen-2 {
				part = part[:maxAnnotationLen-2] + "..."
			}
			w.line(level, "\t  %s\n", part)
		}
	}
}

// maxAnnotationLen is kubectl's width for an annotation on one line.
const maxAnnotationLen = 140

// stringList prints a list as the title's value, one per line.
func (w *writer) stringList(level int, title string, items []string) {
	w.line(level, "%s:\t", title)
	if len(items) == 0 {
		w.line(0, "<none>\n")
		return
	}
	for i, it := range items {
		if i > 0 {
			w.line(level, "\t")
		}
		w.line(0, "%s\n", it)
	}
}

// Events writes the events section: type, reason, age, source and
// message, oldest first.
func (w *writer) events(events []corev1.Event) {
	if len(events) == 0 {
		w.line(l0, "Events:\t<none>\n")
		return
	}
	evs := append([]corev1.Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return EventTime(evs[i]).Before(EventTime(evs[j])) })
	w.flush()
	w.line(l0, "Events:\n")
	w.line(l1, "Type\tReason\tAge\tFrom\tMessage\n")
	w.line(l1, "----\t------\t----\t----\t-------\n")
	for _, e := range evs {
		age := w.eventAge(e)
		w.line(l1, "%s\t%s\t%s\t%s\t%s\n", e.Type, e.Reason, age, eventSource(e), strings.TrimSpace(e.Message))
	}
}

// EventTime is when an event last happened, as kubectl's LAST SEEN and
// Age columns read it: the last timestamp, else the event time, else the
// first timestamp, else when the Event was created.
func EventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// eventAge is "10s", or "3m (x5 over 10m)" for a repeated event.
func (w *writer) eventAge(e corev1.Event) string {
	last := EventTime(e)
	age := duration.HumanDuration(w.now.Sub(last))
	if e.Count > 1 && !e.FirstTimestamp.IsZero() {
		return fmt.Sprintf("%s (x%d over %s)", age, e.Count, duration.HumanDuration(w.now.Sub(e.FirstTimestamp.Time)))
	}
	if e.Series != nil && e.Series.Count > 1 {
		return fmt.Sprintf("%s (x%d over %s)", duration.HumanDuration(w.now.Sub(e.Series.LastObservedTime.Time)), e.Series.Count, duration.HumanDuration(w.now.Sub(e.EventTime.Time)))
	}
	return age
}

func eventSource(e corev1.Event) string {
	component, host := e.Source.Component, e.Source.Host
	if component == "" {
		component, host = e.ReportingController, e.ReportingInstance
	}
	if host != "" {
		return component + ", " + host
	}
	return component
}

// meta writes the common opening: name, namespace, labels, annotations.
func (w *writer) meta(m metav1.ObjectMeta, namespaced bool) {
	w.line(l0, "Name:\t%s\n", m.Name)
	if namespaced {
		w.line(l0, "Namespace:\t%s\n", m.Namespace)
	}
}

// controlledBy is "Kind/name" of the controlling owner, or "".
func controlledBy(m metav1.ObjectMeta) string {
	if ref := metav1.GetControllerOf(&m); ref != nil {
		return ref.Kind + "/" + ref.Name
	}
	return ""
}
