// Package printers gives each kind the columns `kubectl get` shows, as
// Kubernetes' server-side printers define them (pkg/printers/internalversion),
// and renders objects into table rows.
//
// Like kube-apiserver, every row carries the cells of every column, wide ones
// included: kubectl hides the columns of priority above 0 unless asked for
// -o wide. Cells keep Kubernetes' text and types (string, int64, bool) so
// that kubectl prints exactly what it prints against a real cluster.
//
// Each kind has a cells function taking the time to measure ages against;
// the exported Row passes time.Now, tests pass a fixed instant.
package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"coracle.dev/apiserver/internal/apiresource"
)

// newTable builds a kind's Table: Row accepts only objects of type T and
// renders them with cells at the current time.
func newTable[T runtime.Object](columns []metav1.TableColumnDefinition, cells func(obj T, now time.Time) []interface{}) *apiresource.Table {
	return &apiresource.Table{
		Columns: columns,
		Row: func(obj runtime.Object) ([]interface{}, error) {
			o, ok := obj.(T)
			if !ok {
				var want T
				return nil, fmt.Errorf("print %T as %T: wrong type", obj, want)
			}
			return cells(o, time.Now()), nil
		},
	}
}

// column is a default column: shown by plain `kubectl get`.
func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wideColumn is shown only by `kubectl get -o wide`.
func wideColumn(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: 1, Description: description}
}

// nameColumn is the object's name; kubectl finds it by its "name" format.
func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
}

// ageColumn is the time since creation.
func ageColumn() metav1.TableColumnDefinition {
	return column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"])
}

// containerColumns are the wide Containers and Images columns of the
// kinds that carry a pod template.
func containerColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		wideColumn("Containers", "string", "Names of each container in the template."),
		wideColumn("Images", "string", "Images referenced by each container in the template."),
	}
}

// since is how long ago ts was, as kubectl shows ages ("5m", "3d"), or
// "<unknown>" for a zero time.
func since(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// microSince is since for MicroTime fields (events' eventTime).
func microSince(ts metav1.MicroTime, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// containerCells lists container names and images, comma separated.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	i := make([]string, len(containers))
	for k, c := range containers {
		n[k], i[k] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

// listWithMore joins the first three items and says how many were left
// out: "a,b,c + 2 more...". An empty list is "<unset>".
func listWithMore(items []string) string {
	const max = 3
	if len(items) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], ","), len(items)-max)
	}
	if len(items) == 0 {
		return "<unset>"
	}
	return strings.Join(items, ",")
}

// boolPtr prints an optional flag as "True", "False" or "<unset>".
func boolPtr(b *bool) string {
	switch {
	case b == nil:
		return "<unset>"
	case *b:
		return "True"
	default:
		return "False"
	}
}

// noneIfEmpty stands "<none>" for an empty cell, as Kubernetes does.
func noneIfEmpty(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// replicas is a spec.replicas pointer with the API default of 1.
func replicas(r *int32) int64 {
	if r == nil {
		return 1
	}
	return int64(*r)
}
