package printers

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"

	"coracle.dev/shared/golden"
)

// assertGolden compares got with testdata/name, or rewrites it with -update.
func assertGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", name), got)
}

func pod(ns, name, image string, labels map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels, "creationTimestamp": "2026-01-02T03:04:05Z"},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": image}, map[string]any{"name": "side", "image": "pause"}}},
		"status":   map[string]any{"phase": "Running", "podIP": "10.244.0." + name[len(name)-1:]},
	}}
}

// podTable is a Table as the apiserver sends for pods: cells fixed, AGE
// already rendered, wide columns with priority 1.
func podTable() *metav1.Table {
	cols := []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name"},
		{Name: "Ready", Type: "string"},
		{Name: "Status", Type: "string"},
		{Name: "Restarts", Type: "string"},
		{Name: "Age", Type: "string"},
		{Name: "IP", Type: "string", Priority: 1},
		{Name: "Node", Type: "string", Priority: 1},
	}
	var rows []metav1.TableRow
	for i, p := range []*unstructured.Unstructured{
		pod("default", "web-1", "busybox", map[string]any{"app": "web", "tier": "front"}),
		pod("kube-system", "dns-2", "coredns", map[string]any{"k8s-app": "dns"}),
		pod("default", "a-much-longer-pod-name-3", "busybox", nil),
	} {
		rows = append(rows, metav1.TableRow{
			Cells:  []any{p.GetName(), "1/1", "Running", int64(i), "5m", "10.244.0." + string(rune('1'+i)), "node-1"},
			Object: runtime.RawExtension{Object: p},
		})
	}
	return &metav1.Table{ColumnDefinitions: cols, Rows: rows}
}

func TestTablePrinter(t *testing.T) {
	cases := []struct {
		name string
		opts TableOptions
	}{
		{"table-plain.golden", TableOptions{}},
		{"table-wide.golden", TableOptions{Wide: true}},
		{"table-all-namespaces.golden", TableOptions{WithNamespace: true}},
		{"table-show-labels.golden", TableOptions{ShowLabels: true}},
		{"table-label-columns.golden", TableOptions{LabelColumns: []string{"app", "k8s-app"}}},
		{"table-with-kind.golden", TableOptions{Kind: schema.GroupKind{Kind: "Pod"}}},
		{"table-no-headers.golden", TableOptions{NoHeaders: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := NewTable(tc.opts).PrintObj(podTable(), &b); err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tc.name, b.String())
		})
	}
}

func TestTablePrinterPrintsTheHeaderOncePerColumns(t *testing.T) {
	// As get -w does: one tab writer for the whole watch keeps later
	// rows aligned with the first.
	var b bytes.Buffer
	tw := cliprinters.GetNewTabWriter(&b)
	p := NewTable(TableOptions{})
	first := podTable()
	next := podTable()
	next.ColumnDefinitions = nil // watch events after the first carry no columns
	next.Rows = next.Rows[:1]
	for _, tb := range []*metav1.Table{first, next} {
		if err := p.PrintObj(tb, tw); err != nil {
			t.Fatal(err)
		}
		tw.Flush()
	}
	events := NewTable(TableOptions{})
	if err := events.PrintObj(WatchEvent("ADDED", podTable()), &b); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "table-watch.golden", b.String())
}

func TestSortTable(t *testing.T) {
	tb := podTable()
	if err := SortTable(tb, ".metadata.name"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tb.Rows {
		got = append(got, r.Cells[0].(string))
	}
	want := []string{"a-much-longer-pod-name-3", "dns-2", "web-1"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted %v, want %v", got, want)
		}
	}
}

func objects() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		pod("default", "web-1", "busybox:1.36", map[string]any{"app": "web"}),
		pod("default", "web-2", "busybox:1.37", map[string]any{"app": "web"}),
	}
}

func TestObjectPrinters(t *testing.T) {
	cases := []struct {
		name   string
		output string
		single bool
	}{
		{"objects-yaml-one.golden", "yaml", true},
		{"objects-yaml-list.golden", "yaml", false},
		{"objects-json-list.golden", "json", false},
		{"objects-name.golden", "name", false},
		{"objects-jsonpath.golden", `jsonpath={range .items[*]}{.metadata.name}{"\t"}{.status.podIP}{"\n"}{end}`, false},
		{"objects-custom-columns.golden", "custom-columns=NAME:.metadata.name,IMAGES:.spec.containers[*].image,APP:metadata.labels.app,MISSING:.spec.nodeName", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFormat(tc.output)
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewObject(f, false)
			if err != nil {
				t.Fatal(err)
			}
			objs := objects()
			if tc.single {
				objs = objs[:1]
			}
			var b bytes.Buffer
			if err := PrintObjects(p, objs, tc.single, &b); err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tc.name, b.String())
		})
	}
}

func TestParseFormat(t *testing.T) {
	cases := []struct {
		in      string
		want    Format
		wantErr string
	}{
		{"", Format{}, ""},
		{"wide", Format{Name: "wide"}, ""},
		{"jsonpath={.a}", Format{Name: "jsonpath", Arg: "{.a}"}, ""},
		{"custom-columns=A:.a", Format{Name: "custom-columns", Arg: "A:.a"}, ""},
		{"jsonpath=", Format{}, "jsonpath template format specified but no template given"},
		{"xml", Format{}, `unable to match a printer suitable for the output format "xml", allowed formats are: custom-columns,json,jsonpath,name,wide,yaml`},
	}
	for _, tc := range cases {
		got, err := ParseFormat(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseFormat(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseFormat(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestCustomColumnsRefusesABadSpec(t *testing.T) {
	if _, err := NewCustomColumns("NAME", false); err == nil {
		t.Fatal("a column without a path was accepted")
	}
}

// YAML and JSON leave managedFields out, as kubectl, unless asked.
func TestObjectPrintersOmitManagedFields(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "c", "managedFields": []any{map[string]any{"manager": "kubectl"}}},
	}}
	for _, tc := range []struct {
		format Format
		want   bool
	}{
		{Format{Name: "yaml"}, false},
		{Format{Name: "json"}, false},
		{Format{Name: "yaml", ShowManagedFields: true}, true},
	} {
		p, err := NewObject(tc.format, false)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := PrintObjects(p, []*unstructured.Unstructured{obj, obj}, false, &b); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "managedFields"); got != tc.want {
			t.Errorf("%+v: managedFields printed %v, want %v:\n%s", tc.format, got, tc.want, b.String())
		}
	}
}
