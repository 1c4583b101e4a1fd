// Package manifest reads the objects of -f sources — files, directories
// (recursively with -R), URLs and standard input — each a stream of YAML
// documents or JSON objects. A document that does not parse is reported
// with its file and line and the others still come through, so a command
// can go on past it and fail at the end.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Stdin is the source name of "-f -".
const Stdin = "STDIN"

// Doc is one document of a source.
type Doc struct {
	// Source is the file name, URL or STDIN.
	Source string
	// Line is the line the document starts on (1-based).
	Line int
	// Object is the decoded object; nil when Err is set.
	Object *unstructured.Unstructured
	// Err says why the document could not be used.
	Err error
}

// Reader reads sources.
type Reader struct {
	// Stdin is read for "-".
	Stdin io.Reader
	// HTTP fetches URLs; http.DefaultClient with a timeout when nil.
	HTTP *http.Client
}

// extensions are the files a directory contributes.
var extensions = []string{".json", ".yaml", ".yml"}

// Read reads every source in order. It fails only when a source cannot be
// read at all (a missing path, an unreachable URL); documents that do not
// parse come back with Err set.
func (r *Reader) Read(sources []string, recursive bool) ([]Doc, error) {
	var docs []Doc
	for _, src := range sources {
		switch {
		case src == "-":
			data, err := io.ReadAll(r.Stdin)
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			docs = append(docs, Parse(Stdin, data)...)
		case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
			data, err := r.fetch(src)
			if err != nil {
				return nil, err
			}
			docs = append(docs, Parse(src, data)...)
		default:
			fi, err := os.Stat(src)
			if err != nil {
				return nil, fmt.Errorf("the path %q does not exist", src)
			}
			if !fi.IsDir() {
				data, err := os.ReadFile(src)
				if err != nil {
					return nil, fmt.Errorf("read %s: %w", src, err)
				}
				docs = append(docs, Parse(src, data)...)
				continue
			}
			files, err := dirFiles(src, recursive)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					return nil, fmt.Errorf("read %s: %w", f, err)
				}
				docs = append(docs, Parse(f, data)...)
			}
		}
	}
	return docs, nil
}

func dirFiles(dir string, recursive bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		for _, e := range extensions {
			if ext == e {
				out = append(out, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

func (r *Reader) fetch(url string) ([]byte, error) {
	client := r.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("unable to read URL %q: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unable to read URL %q, server reported %s, status code=%d", url, resp.Status, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// separator is a YAML document separator line.
var separator = regexp.MustCompile(`^---(\s.*)?$`)

// Parse splits data into documents and decodes each.
func Parse(source string, data []byte) []Doc {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return parseJSON(source, data)
	}
	var docs []Doc
	lines := strings.SplitAfter(string(data), "\n")
	start, n := 1, 0
	var cur strings.Builder
	flush := func() {
		if body := cur.String(); !blank(body) {
			docs = append(docs, decodeYAML(source, start, []byte(body))...)
		}
		cur.Reset()
	}
	for _, l := range lines {
		n++
		if separator.MatchString(strings.TrimRight(l, "\r\n")) {
			flush()
			start = n + 1
			continue
		}
		cur.WriteString(l)
	}
	flush()
	return docs
}

// blank reports whether a YAML document holds only comments and space.
func blank(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func decodeYAML(source string, start int, body []byte) []Doc {
	data, err := yaml.YAMLToJSON(body)
	if err != nil {
		// Line numbers in the YAML error count from the document's
		// start; say the line of the file.
		msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
			n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
			return fmt.Sprintf("line %d", n+start-1)
		})
		return []Doc{{Source: source, Line: start, Err: fmt.Errorf("error parsing %s: error converting YAML to JSON: %s", source, msg)}}
	}
	return decodeObject(source, start, data)
}

func parseJSON(source string, data []byte) []Doc {
	var docs []Doc
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return docs
		}
		// The value ends at the decoder's offset and starts len(raw)
		// before it.
		start := max(0, int(dec.InputOffset())-len(raw))
		line := 1 + bytes.Count(data[:start], []byte("\n"))
		if err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				line = 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
			}
			return append(docs, Doc{Source: source, Line: line, Err: fmt.Errorf("error parsing %s: line %d: %w", source, line, err)})
		}
		docs = append(docs, decodeObject(source, line, raw)...)
	}
}

// decodeObject turns one JSON document into objects, expanding a List.
func decodeObject(source string, line int, data []byte) []Doc {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		return []Doc{{Source: source, Line: line, Err: fmt.Errorf("error parsing %s (line %d): %s", source, line, describeDecode(err, data))}}
	}
	if obj.IsList() {
		list, err := obj.ToList()
		if err != nil {
			return []Doc{{Source: source, Line: line, Err: fmt.Errorf("error parsing %s (line %d): %w", source, line, err)}}
		}
		var docs []Doc
		for i := range list.Items {
			docs = append(docs, Doc{Source: source, Line: line, Object: &list.Items[i]})
		}
		return docs
	}
	return []Doc{{Source: source, Line: line, Object: obj}}
}

// describeDecode words the errors of objects missing apiVersion or kind
// as kubectl does.
func describeDecode(err error, data []byte) string {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return err.Error()
	}
	var missing []string
	if v, _ := m["apiVersion"].(string); v == "" {
		missing = append(missing, "apiVersion not set")
	}
	if v, _ := m["kind"].(string); v == "" {
		missing = append(missing, "kind not set")
	}
	if len(missing) > 0 {
		return "error validating data: [" + strings.Join(missing, ", ") + "]"
	}
	return err.Error()
}
