// Package addontest reads an add-on's manifest for its tests: every
// document decoded strictly into its typed object, and the one object of
// a type picked out.
package addontest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// Decode decodes every document of a multi-document manifest into its
// typed object (with its kind set), strictly: a field the type does not
// have, or a field given twice, is an error, so a misspelt field cannot
// pass as ignored. Documents of comments only are skipped.
func Decode(data []byte) ([]runtime.Object, error) {
	codec := k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		k8sjson.SerializerOptions{Yaml: true, Strict: true})
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := codec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
		objs = append(objs, obj)
	}
}

// stripComments drops the comment lines of a YAML document, so that a
// document of comments only counts as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// Manifest reads and decodes the manifest at path, failing the test on
// any error.
func Manifest(t testing.TB, path string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return objs
}

// Only is the manifest's one object of type T; the test fails unless
// there is exactly one.
func Only[T runtime.Object](t testing.TB, objs []runtime.Object) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if typed, ok := o.(T); ok {
			found = append(found, typed)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("manifest: %d objects of type %T, want 1", len(found), zero)
	}
	return found[0]
}
