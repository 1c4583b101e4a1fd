package describe

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Generic writes any object: its name, namespace, labels, annotations,
// API version and kind, then every other field as an indented tree with
// kubectl's "Camel Case" field titles, and the events.
func Generic(out io.Writer, obj *unstructured.Unstructured, events []corev1.Event, now time.Time) error {
	w := newWriter(out, now)
	w.line(l0, "Name:\t%s\n", obj.GetName())
	if obj.GetNamespace() != "" {
		w.line(l0, "Namespace:\t%s\n", obj.GetNamespace())
	}
	w.mapLines(l0, "Labels", obj.GetLabels())
	w.mapLines(l0, "Annotations", obj.GetAnnotations())
	w.line(l0, "API Version:\t%s\n", obj.GetAPIVersion())
	w.line(l0, "Kind:\t%s\n", obj.GetKind())
	content := obj.DeepCopy().Object
	delete(content, "apiVersion")
	delete(content, "kind")
	if m, ok := content["metadata"].(map[string]any); ok {
		for _, k := range []string{"name", "namespace", "labels", "annotations", "managedFields"} {
			delete(m, k)
		}
	}
	w.tree(l0, content, keyOrder(content))
	w.events(events)
	return w.flush()
}

// keyOrder puts metadata first and status last, the rest by name.
func keyOrder(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank(keys[i]), rank(keys[j])
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	return keys
}

func rank(k string) int {
	switch k {
	case "metadata":
		return 0
	case "status":
		return 2
	}
	return 1
}

func (w *writer) tree(level int, m map[string]any, keys []string) {
	for _, k := range keys {
		w.value(level, title(k)+":", m[k])
	}
}

func (w *writer) value(level int, label string, v any) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			w.line(level, "%s\n", label)
			return
		}
		w.line(level, "%s\n", label)
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.tree(level+1, t, keys)
	case []any:
		w.line(level, "%s\n", label)
		for _, item := range t {
			switch it := item.(type) {
			case map[string]any:
				keys := make([]string, 0, len(it))
				for k := range it {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				w.tree(level+1, it, keys)
			default:
				w.line(level+1, "%v\n", it)
			}
		}
	case nil:
		w.line(level, "%s\t<nil>\n", label)
	default:
		w.line(level, "%s\t%v\n", label, fmt.Sprint(t))
	}
}

// title turns "creationTimestamp" into "Creation Timestamp".
func title(k string) string {
	var b strings.Builder
	runes := []rune(k)
	for i, r := range runes {
		if i == 0 {
			b.WriteRune(unicode.ToUpper(r))
			continue
		}
		if unicode.IsUpper(r) && !unicode.IsUpper(runes[i-1]) {
			b.WriteRune(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
