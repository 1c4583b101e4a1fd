package addons

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Labels and annotations the add-on manager puts on what it applies.
const (
	// NameLabel names the add-on an object came from: the objects of an
	// add-on are found by it, and nothing without it is ever deleted.
	NameLabel = "addons.coracle.dev/name"
	// ChecksumAnnotation is the digest of the object's document in the
	// file as it was last applied: an object is applied again only when
	// its document changed, so what users change by hand in between
	// stays until the file changes.
	ChecksumAnnotation = "addons.coracle.dev/checksum"
	// FieldManager is the manager of the fields it applies.
	FieldManager = "coracle-addon-manager"
)

// manifestExts are the files of the directory that are manifests.
var manifestExts = []string{".yaml", ".yml", ".json"}

// SkipExt marks an add-on disabled: a file NAME.skip beside (or instead
// of) NAME.yaml, as k3s's .skip files. Deleting an add-on's manifest
// writes it, so that whatever put the file there first (make up) does
// not bring the add-on back.
const SkipExt = ".skip"

// AddonName is the add-on a file of the directory is: its name without
// the extension ("dns" for dns.yaml); "" if the file is not a manifest
// or a skip marker.
func AddonName(file string) string {
	base := filepath.Base(file)
	if strings.HasPrefix(base, ".") {
		return ""
	}
	for _, ext := range append(manifestExts, SkipExt) {
		if name, ok := strings.CutSuffix(base, ext); ok && name != "" {
			return name
		}
	}
	return ""
}

// IsManifest reports whether file is a manifest (not a skip marker).
func IsManifest(file string) bool {
	for _, ext := range manifestExts {
		if strings.HasSuffix(file, ext) {
			return true
		}
	}
	return false
}

// Object is one document of a manifest.
type Object struct {
	*unstructured.Unstructured
	// Checksum is the digest of the document.
	Checksum string
	// Doc is the document's position in the file, from 1.
	Doc int
}

// Ref names an object for pruning: its kind and where it lives.
type Ref struct {
	GroupKind       schema.GroupKind
	Namespace, Name string
}

// Parse reads every object of a manifest (YAML documents separated by
// ---, or JSON; a List's items are objects of their own). An empty
// document is skipped; one that is not an object with apiVersion, kind
// and metadata.name is an error naming the file and the document.
func Parse(file string, data []byte) ([]Object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	var errs []error
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, doc, err)
		}
		jsonDoc, err := utilyaml.ToJSON(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", file, doc, err))
			continue
		}
		if len(bytes.TrimSpace(jsonDoc)) == 0 || string(bytes.TrimSpace(jsonDoc)) == "null" {
			continue
		}
		objs, err := decode(jsonDoc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", file, doc, err))
			continue
		}
		for _, o := range objs {
			out = append(out, Object{Unstructured: o, Checksum: checksum(o), Doc: doc})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func decode(jsonDoc []byte) ([]*unstructured.Unstructured, error) {
	var m map[string]any
	if err := json.Unmarshal(jsonDoc, &m); err != nil {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, fmt.Errorf("apiVersion and kind are required")
	}
	if u.IsList() {
		var out []*unstructured.Unstructured
		err := u.EachListItem(func(o runtime.Object) error {
			item, ok := o.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("list item is %T", o)
			}
			if item.GetName() == "" || item.GetKind() == "" {
				return fmt.Errorf("every list item needs apiVersion, kind and metadata.name")
			}
			out = append(out, item)
			return nil
		})
		return out, err
	}
	if u.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name is required", u.GetKind())
	}
	return []*unstructured.Unstructured{u}, nil
}

// checksum is a digest of the object as written (its JSON, keys sorted).
func checksum(u *unstructured.Unstructured) string {
	b, _ := json.Marshal(u.Object)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
