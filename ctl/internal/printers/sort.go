package printers

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/jsonpath"
)

// SortTable orders a table's rows by a JSONPath field of each row's
// object (--sort-by): times as times, numbers as numbers, the rest as
// text; rows without the field come first, as with kubectl.
func SortTable(table *metav1.Table, field string) error {
	keys := make([]any, len(table.Rows))
	for i, row := range table.Rows {
		obj, _ := row.Object.Object.(*unstructured.Unstructured)
		if obj == nil {
			continue
		}
		k, err := fieldValue(obj.Object, field)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	idx := make([]int, len(table.Rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return less(keys[idx[a]], keys[idx[b]]) })
	rows := make([]metav1.TableRow, len(idx))
	for i, j := range idx {
		rows[i] = table.Rows[j]
	}
	table.Rows = rows
	return nil
}

// SortObjects orders objects by a JSONPath field.
func SortObjects(objs []*unstructured.Unstructured, field string) error {
	keys := make(map[*unstructured.Unstructured]any, len(objs))
	for _, o := range objs {
		k, err := fieldValue(o.Object, field)
		if err != nil {
			return err
		}
		keys[o] = k
	}
	sort.SliceStable(objs, func(a, b int) bool { return less(keys[objs[a]], keys[objs[b]]) })
	return nil
}

func fieldValue(content map[string]any, field string) (any, error) {
	tmpl, err := relaxed(field)
	if err != nil {
		return nil, err
	}
	jp := jsonpath.New("sort").AllowMissingKeys(true)
	if err := jp.Parse(tmpl); err != nil {
		return nil, fmt.Errorf("sort by %s: %w", field, err)
	}
	results, err := jp.FindResults(content)
	if err != nil || len(results) == 0 || len(results[0]) == 0 {
		return nil, nil
	}
	v := results[0][0]
	if !v.IsValid() || !v.CanInterface() {
		return nil, nil
	}
	return v.Interface(), nil
}

// less compares sort keys; nil sorts first.
func less(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b != nil
	}
	as, bs := fmt.Sprint(a), fmt.Sprint(b)
	if at, err := time.Parse(time.RFC3339, as); err == nil {
		if bt, err := time.Parse(time.RFC3339, bs); err == nil {
			return at.Before(bt)
		}
	}
	if af, err := strconv.ParseFloat(as, 64); err == nil {
		if bf, err := strconv.ParseFloat(bs, 64); err == nil {
			return af < bf
		}
	}
	return as < bs
}
