package integration

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every bad request gets a 4xx Status that says what is wrong, and changes
// nothing stored.
func TestBadInput(t *testing.T) {
	c := start(t)
	if _, err := c.client.CoreV1().ConfigMaps("default").Create(ctx(t), configMap("keep", map[string]string{"a": "b"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := c.do(t, http.MethodGet, "/api/v1/configmaps", "", nil).body
	huge := `{"metadata":{"name":"huge"},"data":{"x":"` + strings.Repeat("a", 3*1024*1024+10) + `"}}`
	const cms = "/api/v1/namespaces/default/configmaps"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		code        int
		text        string
	}{
		{"body over 3 MiB", http.MethodPost, cms, "application/json", huge, http.StatusRequestEntityTooLarge, "limit is 3145728"},
		{"malformed JSON", http.MethodPost, cms, "application/json", `{"metadata":{"name":"x"`, http.StatusBadRequest, "not a valid JSON object"},
		{"malformed YAML", http.MethodPost, cms, "application/yaml", "metadata:\n  name: [x\n", http.StatusBadRequest, "not valid YAML"},
		{"wrong type for a field", http.MethodPost, cms, "application/json", `{"metadata":{"name":"x"},"data":[1]}`, http.StatusBadRequest, "cannot be handled as a ConfigMap"},
		{"kind does not match the URL", http.MethodPost, cms, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, http.StatusBadRequest, "the kind in the data (Secret) does not match the expected kind (ConfigMap)"},
		{"apiVersion does not match the URL", http.MethodPost, cms, "application/json", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}`, http.StatusBadRequest, "does not match the expected API version"},
		{"invalid name", http.MethodPost, cms, "application/json", `{"metadata":{"name":"UPPER"}}`, http.StatusUnprocessableEntity, "metadata.name"},
		{"missing name", http.MethodPost, cms, "application/json", `{"metadata":{}}`, http.StatusUnprocessableEntity, "name or generateName is required"},
		{"unknown field, strict", http.MethodPost, cms + "?fieldValidation=Strict", "application/json", `{"metadata":{"name":"x"},"bogus":1}`, http.StatusBadRequest, `unknown field "bogus"`},
		{"duplicate field, strict", http.MethodPost, cms + "?fieldValidation=Strict", "application/json", `{"metadata":{"name":"x","name":"y"}}`, http.StatusBadRequest, `duplicate field "metadata.name"`},
		{"bad fieldValidation", http.MethodPost, cms + "?fieldValidation=Loose", "application/json", `{"metadata":{"name":"x"}}`, http.StatusBadRequest, "fieldValidation"},
		{"unsupported content type", http.MethodPost, cms, "text/plain", `hello`, http.StatusUnsupportedMediaType, "unknown format"},
		{"empty body", http.MethodPost, cms, "application/json", ``, http.StatusBadRequest, "empty"},
		{"name mismatch on update", http.MethodPut, cms + "/keep", "application/json", `{"metadata":{"name":"other"}}`, http.StatusBadRequest, "does not match the name on the URL"},
		{"namespace mismatch", http.MethodPost, cms, "application/json", `{"metadata":{"name":"x","namespace":"kube-system"}}`, http.StatusBadRequest, "does not match the namespace"},
		{"bad label selector", http.MethodGet, cms + "?labelSelector=a%20in%20(", "", ``, http.StatusBadRequest, "unable to parse requirement"},
		{"bad field selector", http.MethodGet, cms + "?fieldSelector=metadata.name%3D%3Dx%3D", "", ``, http.StatusBadRequest, "field selector"},
		{"unsupported field selector", http.MethodGet, cms + "?fieldSelector=spec.x%3Dy", "", ``, http.StatusBadRequest, "field label not supported: spec.x"},
		{"bad limit", http.MethodGet, cms + "?limit=-1", "", ``, http.StatusBadRequest, "invalid limit"},
		{"bad resourceVersion", http.MethodGet, cms + "?watch=1&resourceVersion=abc", "", ``, http.StatusBadRequest, "invalid resource version"},
		{"bad namespace in path", http.MethodGet, "/api/v1/namespaces/Bad_NS/configmaps", "", ``, http.StatusBadRequest, "invalid namespace"},
		{"unknown resource", http.MethodGet, "/api/v1/namespaces/default/widgets", "", ``, http.StatusNotFound, "could not find the requested resource"},
		{"unknown group", http.MethodGet, "/apis/nope.io/v1/things", "", ``, http.StatusNotFound, "could not find the requested resource"},
		{"unknown subresource", http.MethodGet, cms + "/keep/status", "", ``, http.StatusNotFound, "could not find"},
		{"create with a name in the URL", http.MethodPost, cms + "/keep", "application/json", `{"metadata":{"name":"keep"}}`, http.StatusMethodNotAllowed, "not supported"},
		{"protobuf-Table-only Accept", http.MethodGet, cms, "", ``, http.StatusNotAcceptable, "only the following media types"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header http.Header
			if tt.name == "protobuf-Table-only Accept" {
				// Kubernetes serves Tables in JSON and YAML only.
				header = http.Header{"Accept": {"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"}}
			}
			r := doWith(t, c.http, c.Server.URL(), tt.method, tt.path, tt.contentType, []byte(tt.body), header)
			if r.code != tt.code {
				t.Fatalf("code %d, want %d: %s", r.code, tt.code, r.body)
			}
			st := r.status(t)
			if st.Kind != "Status" || st.Status != metav1.StatusFailure || int(st.Code) != tt.code || !strings.Contains(st.Message, tt.text) {
				t.Fatalf("status %+v, want message containing %q", st, tt.text)
			}
		})
	}
	after := c.do(t, http.MethodGet, "/api/v1/configmaps", "", nil).body
	if !bytes.Equal(stripRV(before), stripRV(after)) {
		t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
	}
}

// stripRV drops the list's resourceVersion, which moves with any write in
// etcd (the bootstrap's, for instance).
func stripRV(b []byte) []byte {
	s := string(b)
	if i := strings.Index(s, `"resourceVersion":"`); i >= 0 {
		j := strings.Index(s[i+19:], `"`)
		s = s[:i] + s[i+19+j+1:]
	}
	return []byte(s)
}

func TestUnknownFieldsWarnByDefault(t *testing.T) {
	c := start(t)
	r := c.do(t, http.MethodPost, "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"metadata":{"name":"w"},"bogus":1}`))
	if r.code != http.StatusCreated {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if w := r.header.Get("Warning"); !strings.Contains(w, `unknown field \"bogus\"`) || !strings.HasPrefix(w, "299 - ") {
		t.Fatalf("Warning header %q", w)
	}
}

func TestYAMLBodiesAndResponses(t *testing.T) {
	c := start(t)
	r := c.do(t, http.MethodPost, "/api/v1/namespaces/default/configmaps", "application/yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ycm\ndata:\n  k: v\n"))
	if r.code != http.StatusCreated {
		t.Fatalf("%d %s", r.code, r.body)
	}
	resp := doWith(t, c.http, c.Server.URL(), http.MethodGet, "/api/v1/namespaces/default/configmaps/ycm", "", nil, http.Header{"Accept": {"application/yaml"}})
	if resp.code != http.StatusOK || !strings.Contains(string(resp.body), "kind: ConfigMap") || resp.header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("%d %s %s", resp.code, resp.header.Get("Content-Type"), resp.body)
	}
}
