// Package printers prints what `ctl get` and the other commands read: the
// server-side Tables as aligned columns (through cli-runtime's table
// printer), and objects as YAML, JSON, names, JSONPath templates or custom
// columns — the -o forms kubectl offers.
package printers

import (
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
)

// Printer prints one object (or a List) to a writer.
type Printer = cliprinters.ResourcePrinter

// Format is a parsed -o value.
type Format struct {
	// Name is "", "wide", "yaml", "json", "name", "jsonpath" or
	// "custom-columns".
	Name string
	// Arg is the template after "=" for jsonpath and custom-columns.
	Arg string
	// ShowManagedFields keeps metadata.managedFields in YAML and JSON,
	// which kubectl leaves out unless --show-managed-fields.
	ShowManagedFields bool
}

// Formats lists the -o values ctl understands, for help and errors.
var Formats = []string{"custom-columns", "json", "jsonpath", "name", "wide", "yaml"}

// ParseFormat parses an -o flag.
func ParseFormat(output string) (Format, error) {
	name, arg, hasArg := strings.Cut(output, "=")
	switch name {
	case "", "wide", "yaml", "json", "name":
		if hasArg {
			break
		}
		return Format{Name: name}, nil
	case "jsonpath", "custom-columns":
		if arg == "" {
			return Format{}, fmt.Errorf("%s template format specified but no template given", name)
		}
		return Format{Name: name, Arg: arg}, nil
	}
	return Format{}, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: %s", output, strings.Join(Formats, ","))
}

// IsTable reports whether the format prints server-side Tables.
func (f Format) IsTable() bool { return f.Name == "" || f.Name == "wide" }

// TableOptions shape the table output.
type TableOptions struct {
	Wide          bool
	NoHeaders     bool
	WithNamespace bool
	ShowLabels    bool
	// LabelColumns are the -L label keys shown as columns.
	LabelColumns []string
	// Kind, when set, prefixes names with "kind.group/" (several kinds
	// in one command).
	Kind schema.GroupKind
}

// NewTable returns a printer of server-side Tables (and watch events
// wrapping them); it prints the header once per set of columns.
func NewTable(o TableOptions) Printer {
	return cliprinters.NewTablePrinter(cliprinters.PrintOptions{
		Wide:          o.Wide,
		NoHeaders:     o.NoHeaders,
		WithNamespace: o.WithNamespace,
		ShowLabels:    o.ShowLabels,
		ColumnLabels:  o.LabelColumns,
		WithKind:      !o.Kind.Empty(),
		Kind:          o.Kind,
	})
}

// NewObject returns the printer of a non-table format.
func NewObject(f Format, noHeaders bool) (Printer, error) {
	omit := func(p Printer) Printer {
		if f.ShowManagedFields {
			return p
		}
		return &cliprinters.OmitManagedFieldsPrinter{Delegate: p}
	}
	switch f.Name {
	case "yaml":
		return omit(&cliprinters.YAMLPrinter{}), nil
	case "json":
		return omit(&cliprinters.JSONPrinter{}), nil
	case "name":
		return &cliprinters.NamePrinter{}, nil
	case "jsonpath":
		p, err := cliprinters.NewJSONPathPrinter(f.Arg)
		if err != nil {
			return nil, fmt.Errorf("error parsing jsonpath %s, %w", f.Arg, err)
		}
		p.AllowMissingKeys(true)
		p.EnableJSONOutput(false)
		return p, nil
	case "custom-columns":
		return NewCustomColumns(f.Arg, noHeaders)
	}
	return nil, fmt.Errorf("output format %q does not print objects", f.Name)
}

// List wraps objects in a kind: List, as kubectl does when a get names
// more than one object.
func List(items []*unstructured.Unstructured) *unstructured.Unstructured {
	arr := make([]any, 0, len(items))
	for _, it := range items {
		arr = append(arr, it.Object)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"metadata":   map[string]any{"resourceVersion": ""},
		"items":      arr,
	}}
}

// PrintObjects prints objects with an object printer: a lone object as
// itself when single, else as a List (custom columns and names print one
// row per object).
func PrintObjects(p Printer, objs []*unstructured.Unstructured, single bool, w io.Writer) error {
	switch p.(type) {
	case *CustomColumns, *cliprinters.NamePrinter:
		for _, o := range objs {
			if err := p.PrintObj(o, w); err != nil {
				return err
			}
		}
		if cc, ok := p.(*CustomColumns); ok {
			return cc.Flush(w)
		}
		return nil
	}
	if single && len(objs) == 1 {
		return p.PrintObj(objs[0], w)
	}
	return p.PrintObj(List(objs), w)
}

// WatchEvent wraps a table for the table printer's EVENT column.
func WatchEvent(eventType string, obj runtime.Object) *metav1.WatchEvent {
	return &metav1.WatchEvent{Type: eventType, Object: runtime.RawExtension{Object: obj}}
}

// NoResources is kubectl's message for an empty result: in ns, unless the
// request spanned every namespace or the kinds live in none.
func NoResources(ns string, allNamespaces, namespaced bool) string {
	if allNamespaces || !namespaced || ns == "" {
		return "No resources found"
	}
	return fmt.Sprintf("No resources found in %s namespace.", ns)
}
