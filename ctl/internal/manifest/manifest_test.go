package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name      string
		data      string
		wantNames []string
		wantLines []int
		wantErr   string // substring of the one failing document's error
	}{
		{"one document", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", []string{"a"}, []int{1}, ""},
		{"several documents with comments and empty ones", "# header\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", []string{"a", "b"}, []int{3, 9}, ""},
		{"a List is its items", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n", []string{"a", "b"}, []int{1, 1}, ""},
		{"a JSON stream", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}\n", []string{"a", "b"}, []int{1, 3}, ""},
		{"bad YAML names the line of the file", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: [1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			[]string{"a", "c"}, []int{1, 12}, "error parsing f.yaml: error converting YAML to JSON: yaml: line 10: did not find expected ',' or ']'"},
		{"a document without a kind", "apiVersion: v1\nmetadata: {name: a}\n", nil, nil, "error parsing f.yaml (line 1): error validating data: [kind not set]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			var lines []int
			var errs []string
			for _, d := range Parse("f.yaml", []byte(tc.data)) {
				if d.Err != nil {
					errs = append(errs, d.Err.Error())
					continue
				}
				names = append(names, d.Object.GetName())
				lines = append(lines, d.Line)
			}
			if strings.Join(names, ",") != strings.Join(tc.wantNames, ",") || len(lines) != len(tc.wantLines) {
				t.Fatalf("names %v lines %v, want %v %v (errors %v)", names, lines, tc.wantNames, tc.wantLines, errs)
			}
			for i := range lines {
				if lines[i] != tc.wantLines[i] {
					t.Errorf("lines %v, want %v", lines, tc.wantLines)
				}
			}
			switch {
			case tc.wantErr == "" && len(errs) > 0:
				t.Errorf("unexpected errors %v", errs)
			case tc.wantErr != "" && (len(errs) != 1 || !strings.Contains(errs[0], tc.wantErr)):
				t.Errorf("errors %v, want one containing %q", errs, tc.wantErr)
			}
		})
	}
}

func TestReadDirectories(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(s), 0o644)
	}
	cm := func(n string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + n + "}\n" }
	write("b.yaml", cm("b"))
	write("a.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`)
	write("notes.txt", "not a manifest")
	write("sub/c.yml", cm("c"))
	r := &Reader{Stdin: strings.NewReader(cm("stdin"))}
	for _, tc := range []struct {
		recursive bool
		want      string
	}{{false, "a,b,stdin"}, {true, "a,b,c,stdin"}} {
		docs, err := r.Read([]string{dir, "-"}, tc.recursive)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range docs {
			names = append(names, d.Object.GetName())
		}
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("recursive=%v: %s, want %s", tc.recursive, got, tc.want)
		}
		r.Stdin = strings.NewReader(cm("stdin"))
	}
	if _, err := r.Read([]string{filepath.Join(dir, "missing.yaml")}, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing path: %v", err)
	}
}
