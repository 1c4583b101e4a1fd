package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// chunkSize is the page size of lists, as kubectl's --chunk-size.
const chunkSize = 500

func getOptions() metav1.GetOptions { return metav1.GetOptions{} }

// List reads every object matching the selectors, page by page.
func List(ctx context.Context, client dynamic.ResourceInterface, labels, fields string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	opts := metav1.ListOptions{LabelSelector: labels, FieldSelector: fields, Limit: chunkSize}
	for {
		list, err := client.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, list.Items...)
		if list.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = list.GetContinue()
	}
}

// TableAccept asks for a server-side Table, falling back to JSON.
const TableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// Raw makes requests the typed and dynamic clients cannot: Tables, and
// watches of Tables.
type Raw struct {
	client *rest.RESTClient
}

// NewRaw builds a raw client from a client-go configuration.
func NewRaw(cfg *rest.Config) (*Raw, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/"
	c.GroupVersion = &schema.GroupVersion{}
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("build REST client: %w", err)
	}
	return &Raw{client: client}, nil
}

// Path is the URL path of a resource collection or object.
func Path(m *meta.RESTMapping, ns, name string) string {
	gv := m.Resource.GroupVersion()
	p := "/api/" + gv.Version
	if gv.Group != "" {
		p = "/apis/" + gv.Group + "/" + gv.Version
	}
	if Namespaced(m) && ns != "" {
		p = path.Join(p, "namespaces", ns)
	}
	p = path.Join(p, m.Resource.Resource)
	if name != "" {
		p = path.Join(p, name)
	}
	return p
}

// TableRequest is what Table reads.
type TableRequest struct {
	Mapping   *meta.RESTMapping
	Namespace string
	Name      string // one object, or a list when empty
	Labels    string
	Fields    string
	// IncludeObject asks for whole objects in the rows (for --sort-by);
	// metadata by default.
	IncludeObject bool
}

func (r *Raw) tableRequest(ctx context.Context, req TableRequest) *rest.Request {
	rq := r.client.Get().AbsPath(Path(req.Mapping, req.Namespace, req.Name)).SetHeader("Accept", TableAccept)
	if req.Name == "" {
		if req.Labels != "" {
			rq = rq.Param("labelSelector", req.Labels)
		}
		if req.Fields != "" {
			rq = rq.Param("fieldSelector", req.Fields)
		}
	}
	if req.IncludeObject {
		rq = rq.Param("includeObject", string(metav1.IncludeObject))
	}
	return rq
}

// Table reads a server-side Table, every page of it, with each row's
// object decoded.
func (r *Raw) Table(ctx context.Context, req TableRequest) (*metav1.Table, error) {
	var table *metav1.Table
	cont := ""
	for {
		rq := r.tableRequest(ctx, req)
		if req.Name == "" {
			rq = rq.Param("limit", fmt.Sprint(chunkSize))
			if cont != "" {
				rq = rq.Param("continue", cont)
			}
		}
		res := rq.Do(ctx)
		// Error, unlike Raw, decodes the server's Status.
		if err := res.Error(); err != nil {
			return nil, err
		}
		body, err := res.Raw()
		if err != nil {
			return nil, err
		}
		page, err := DecodeTable(body)
		if err != nil {
			return nil, err
		}
		if table == nil {
			table = page
		} else {
			table.Rows = append(table.Rows, page.Rows...)
			table.ResourceVersion = page.ResourceVersion
		}
		cont = page.Continue
		if req.Name != "" || cont == "" {
			table.Continue = ""
			return table, nil
		}
	}
}

// DecodeTable decodes a Table and the object embedded in each row.
func DecodeTable(body []byte) (*metav1.Table, error) {
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		return nil, fmt.Errorf("decode table: %w", err)
	}
	if table.Kind != "Table" {
		return nil, fmt.Errorf("the server did not answer with a Table (got kind %q)", table.Kind)
	}
	for i := range table.Rows {
		raw := table.Rows[i].Object.Raw
		if len(raw) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("decode table row: %w", err)
		}
		table.Rows[i].Object.Object = u
	}
	return &table, nil
}

// WatchEvent is one event of a watch of Tables.
type WatchEvent struct {
	Type  string
	Table *metav1.Table // nil for ERROR and BOOKMARK
	// Err is the status an ERROR event carried.
	Err error
}

// WatchTable watches a collection (or one object, through a field
// selector on its name) from resourceVersion, calling fn with each event
// until fn returns false, the stream ends, or ctx is done.
func (r *Raw) WatchTable(ctx context.Context, req TableRequest, resourceVersion string, fn func(WatchEvent) bool) error {
	single := req.Name
	if single != "" {
		req.Name = ""
		req.Fields = "metadata.name=" + single
	}
	rq := r.tableRequest(ctx, req).Param("watch", "true")
	if resourceVersion != "" {
		rq = rq.Param("resourceVersion", resourceVersion)
	}
	stream, err := rq.Stream(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	dec := json.NewDecoder(stream)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		out := WatchEvent{Type: ev.Type}
		switch ev.Type {
		case "ERROR":
			var status metav1.Status
			_ = json.Unmarshal(ev.Object, &status)
			out.Err = fmt.Errorf("watch: %s", status.Message)
		case "BOOKMARK":
		default:
			t, err := DecodeTable(ev.Object)
			if err != nil {
				return err
			}
			out.Table = t
		}
		if !fn(out) {
			return nil
		}
	}
}
