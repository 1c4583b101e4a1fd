package e2e

import (
	"reflect"
	"strings"
	"testing"
)

// table is one block of kubectl's column output: a header line and the rows
// under it, cells keyed by column name.
type table struct {
	header []string
	rows   []map[string]string
}

// parseTables reads kubectl's human-readable output, which holds one table
// per kind, separated by blank lines. kubectl aligns a table's columns with
// a tabwriter (at least three spaces between columns), so a column begins
// where its header word does, and a cell is the text under it — which
// keeps empty cells (an api-resource without short names) in their column.
func parseTables(out string) []table {
	var tables []table
	var cur *table
	var starts []int
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		if cur == nil {
			tables = append(tables, table{})
			cur = &tables[len(tables)-1]
			starts = columnStarts(line)
			for i, s := range starts {
				cur.header = append(cur.header, strings.TrimSpace(cell(line, s, starts, i)))
			}
			continue
		}
		row := map[string]string{}
		for i, s := range starts {
			row[cur.header[i]] = strings.TrimSpace(cell(line, s, starts, i))
		}
		cur.rows = append(cur.rows, row)
	}
	return tables
}

// columnStarts finds where each header word begins: at the line's start or
// after two or more spaces (a header such as "NOMINATED NODE" has one).
func columnStarts(header string) []int {
	var starts []int
	for i := 0; i < len(header); i++ {
		if header[i] == ' ' {
			continue
		}
		if i == 0 || (i >= 2 && header[i-1] == ' ' && header[i-2] == ' ') {
			starts = append(starts, i)
		}
	}
	return starts
}

func cell(line string, start int, starts []int, i int) string {
	if start >= len(line) {
		return ""
	}
	if i+1 < len(starts) && starts[i+1] < len(line) {
		return line[start:starts[i+1]]
	}
	return line[start:]
}

// row is the first row whose column col holds value, or nil.
func (tb table) row(col, value string) map[string]string {
	for _, r := range tb.rows {
		if r[col] == value {
			return r
		}
	}
	return nil
}

// column lists the cells of column col, top to bottom.
func (tb table) column(col string) []string {
	var out []string
	for _, r := range tb.rows {
		out = append(out, r[col])
	}
	return out
}

func TestParseTablesKeepsCellsInTheirColumns(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []table
	}{
		{
			name: "empty cell stays empty",
			out: "NAME         SHORTNAMES   APIVERSION   NAMESPACED   KIND\n" +
				"configmaps   cm           v1           true         ConfigMap\n" +
				"secrets                   v1           true         Secret\n",
			want: []table{{
				header: []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"},
				rows: []map[string]string{
					{"NAME": "configmaps", "SHORTNAMES": "cm", "APIVERSION": "v1", "NAMESPACED": "true", "KIND": "ConfigMap"},
					{"NAME": "secrets", "SHORTNAMES": "", "APIVERSION": "v1", "NAMESPACED": "true", "KIND": "Secret"},
				},
			}},
		},
		{
			name: "one table per kind, header words with a space, short last cell",
			out: "NAME     READY   NOMINATED NODE\n" +
				"pod/p1   0/1     <none>\n" +
				"\n" +
				"NAME           DATA   AGE\n" +
				"configmap/c1   1      5s\n" +
				"configmap/c2   0\n",
			want: []table{
				{
					header: []string{"NAME", "READY", "NOMINATED NODE"},
					rows:   []map[string]string{{"NAME": "pod/p1", "READY": "0/1", "NOMINATED NODE": "<none>"}},
				},
				{
					header: []string{"NAME", "DATA", "AGE"},
					rows: []map[string]string{
						{"NAME": "configmap/c1", "DATA": "1", "AGE": "5s"},
						{"NAME": "configmap/c2", "DATA": "0", "AGE": ""},
					},
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseTables(tc.out); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseTables:\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}
