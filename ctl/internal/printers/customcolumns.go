package printers

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
)

// column is one custom column: a header and a JSONPath.
type column struct {
	header string
	path   *jsonpath.JSONPath
}

// CustomColumns prints -o custom-columns=HEADER:.path,... : one row per
// object, cells joined with "," when the path finds several values and
// "<none>" when it finds none. Rows are buffered until Flush so the
// columns align.
type CustomColumns struct {
	columns   []column
	noHeaders bool
	rows      [][]string
}

// NewCustomColumns parses "NAME:.metadata.name,IMAGE:.spec.containers[*].image".
func NewCustomColumns(spec string, noHeaders bool) (*CustomColumns, error) {
	cc := &CustomColumns{noHeaders: noHeaders}
	for _, part := range strings.Split(spec, ",") {
		header, expr, ok := strings.Cut(part, ":")
		if !ok || header == "" || expr == "" {
			return nil, fmt.Errorf("unexpected custom-columns spec: %s, expected <header>:<json-path-expr>", part)
		}
		tmpl, err := relaxed(expr)
		if err != nil {
			return nil, err
		}
		jp := jsonpath.New(header).AllowMissingKeys(true)
		if err := jp.Parse(tmpl); err != nil {
			return nil, fmt.Errorf("error parsing jsonpath %s: %w", expr, err)
		}
		cc.columns = append(cc.columns, column{header: header, path: jp})
	}
	return cc, nil
}

// relaxed accepts ".a.b", "a.b" and "{.a.b}" alike, as kubectl does.
func relaxed(expr string) (string, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "{") {
		if !strings.HasSuffix(e, "}") {
			return "", fmt.Errorf("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'")
		}
		e = strings.TrimSuffix(strings.TrimPrefix(e, "{"), "}")
	}
	if !strings.HasPrefix(e, ".") {
		e = "." + e
	}
	return "{" + e + "}", nil
}

// PrintObj buffers the row of obj.
func (c *CustomColumns) PrintObj(obj runtime.Object, _ io.Writer) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	row := make([]string, len(c.columns))
	for i, col := range c.columns {
		results, err := col.path.FindResults(content)
		if err != nil {
			return err
		}
		var vals []string
		for _, set := range results {
			for _, v := range set {
				vals = append(vals, cell(v))
			}
		}
		if len(vals) == 0 {
			row[i] = "<none>"
		} else {
			row[i] = strings.Join(vals, ",")
		}
	}
	c.rows = append(c.rows, row)
	return nil
}

func cell(v reflect.Value) string {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "<none>"
		}
		v = v.Elem()
	}
	var b bytes.Buffer
	jp := jsonpath.New("cell")
	if err := jp.Parse("{@}"); err == nil {
		if err := jp.Execute(&b, v.Interface()); err == nil {
			return b.String()
		}
	}
	return fmt.Sprint(v.Interface())
}

// Flush writes the buffered rows, aligned, under the headers.
func (c *CustomColumns) Flush(w io.Writer) error {
	tw := cliprinters.GetNewTabWriter(w)
	if !c.noHeaders {
		headers := make([]string, len(c.columns))
		for i, col := range c.columns {
			headers[i] = col.header
		}
		fmt.Fprintln(tw, strings.Join(headers, "\t"))
	}
	for _, r := range c.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	c.rows = nil
	return tw.Flush()
}
