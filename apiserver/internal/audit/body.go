package audit

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"sigs.k8s.io/yaml"
)

// capture keeps up to max bytes of a body; past that it keeps nothing and
// says so.
type capture struct {
	max       int
	buf       []byte
	truncated bool
	complete  bool // a request body was read to its end
}

func newCapture(max int) *capture { return &capture{max: max} }

func (c *capture) add(p []byte) {
	if c.truncated || len(p) == 0 {
		return
	}
	if len(c.buf)+len(p) > c.max {
		c.truncated, c.buf = true, nil
		return
	}
	c.buf = append(c.buf, p...)
}

// toJSON returns a body as JSON, as upstream logs objects whatever the
// wire format: JSON itself (objects, patches, Tables) as it is, YAML
// converted; anything else is not logged.
func toJSON(data []byte, contentType string) ([]byte, bool) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, false
	}
	switch {
	case strings.HasSuffix(mt, "json"):
		if !json.Valid(data) {
			return nil, false
		}
		return data, true
	case strings.HasSuffix(mt, "yaml"):
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, false
		}
		return j, true
	}
	return nil, false
}

// fillObjectRef sets what the reference lacks from the object's
// metadata, as upstream's LogRequestObject does.
func fillObjectRef(ref *auditv1.ObjectReference, data []byte) {
	var obj struct {
		Metadata struct {
			Name            string `json:"name"`
			Namespace       string `json:"namespace"`
			UID             string `json:"uid"`
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if json.Unmarshal(data, &obj) != nil {
		return
	}
	m := obj.Metadata
	if ref.Namespace == "" {
		ref.Namespace = m.Namespace
	}
	if ref.Name == "" {
		ref.Name = m.Name
	}
	if ref.UID == "" {
		ref.UID = types.UID(m.UID)
	}
	if ref.ResourceVersion == "" {
		ref.ResourceVersion = m.ResourceVersion
	}
}

// asStatus decodes a metav1.Status body.
func asStatus(data []byte) (*metav1.Status, bool) {
	var probe struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.Kind != "Status" {
		return nil, false
	}
	var st metav1.Status
	if json.Unmarshal(data, &st) != nil {
		return nil, false
	}
	return &st, true
}

// withoutManagedFields drops metadata.managedFields from an object, from
// a list's items and from a Table's row objects, as omitManagedFields
// asks. A body it cannot read is returned as it is.
func withoutManagedFields(data []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep integers exact
	var obj map[string]any
	if dec.Decode(&obj) != nil {
		return data
	}
	dropManagedFields(obj)
	if items, ok := obj["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				dropManagedFields(m)
			}
		}
	}
	if obj["kind"] == "Table" {
		if rows, ok := obj["rows"].([]any); ok {
			for _, r := range rows {
				if row, ok := r.(map[string]any); ok {
					if o, ok := row["object"].(map[string]any); ok {
						dropManagedFields(o)
					}
				}
			}
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return data
	}
	return out
}

func dropManagedFields(obj map[string]any) {
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
}
