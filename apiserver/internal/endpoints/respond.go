package endpoints

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"sigs.k8s.io/yaml"

	"coracle.dev/apiserver/internal/audit"
)

var emptyGR = schema.GroupResource{}

// writeJSON sends v as JSON with code: discovery, which is JSON whatever
// the client accepts.
func writeJSON(c *gin.Context, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(c, apierrors.NewInternalError(err))
		return
	}
	c.Data(code, "application/json", data)
}

// writeObject sends obj, as it is, in the negotiated encoding.
func writeObject(c *gin.Context, code int, obj runtime.Object, out output) {
	data, err := encode(out.media(), obj)
	if err != nil {
		writeError(c, apierrors.NewInternalError(err))
		return
	}
	if out.media() == mediaProtobuf {
		// The audit log reads JSON and YAML bodies; this one it is told.
		audit.EntryFrom(c.Request.Context()).LogResponseObject(obj)
	}
	c.Data(code, out.media().contentType(), data)
}

// respond sends obj (an object or a list) in the negotiated form: itself,
// or its Table or metadata.
func (r *request) respond(code int, obj runtime.Object, out output) {
	switch out.view() {
	case viewTable:
		table, err := toTable(r.desc, obj, r.c.Query("includeObject"))
		if err != nil {
			r.fail(err)
			return
		}
		obj = table
	case viewMetadata:
		obj = toMetadata(obj)
	}
	writeObject(r.c, code, obj, out)
}

// protobufEncoder writes objects in Kubernetes protobuf: the "k8s\x00"
// magic, then a runtime.Unknown naming the object's kind around its
// message. protobufRawEncoder writes the bare message, as watch events are
// sent, each in a length-prefixed frame. Encoding reads the kind off the
// object, so neither needs a scheme; both are stateless.
var (
	protobufEncoder    = protobuf.NewSerializer(nil, nil)
	protobufRawEncoder = protobuf.NewRawSerializer(nil, nil)
)

// encode returns obj in m: every object a response carries, watch events'
// included, is encoded here.
func encode(m media, obj runtime.Object) ([]byte, error) {
	switch m {
	case mediaYAML:
		return yaml.Marshal(obj)
	case mediaProtobuf:
		var buf bytes.Buffer
		if err := protobufEncoder.Encode(obj, &buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return json.Marshal(obj)
}

// statusOutput is the encoding a Status goes back in: the client's first
// choice of those served, or JSON, as responsewriters.ErrorNegotiated
// writes errors (and kube-apiserver the Status a delete or a binding
// answers with).
func statusOutput(c *gin.Context) output {
	out, ok := negotiateOutput(c.GetHeader("Accept"), errorRestrictions)
	if !ok {
		return makeOutput(mediaJSON, viewObject)
	}
	return out
}

// writeStatus sends a success Status in the encoding statusOutput picks.
func writeStatus(c *gin.Context, code int, st *metav1.Status) {
	writeObject(c, code, st, statusOutput(c))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}

// statusFor turns any error into the metav1.Status Kubernetes would send.
func statusFor(err error) metav1.Status {
	var apiStatus apierrors.APIStatus
	if !errors.As(err, &apiStatus) {
		apiStatus = apierrors.NewInternalError(err)
	}
	st := apiStatus.Status()
	st.Kind = "Status"
	st.APIVersion = "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	return st
}

// writeError sends err as a metav1.Status with its HTTP code, in the
// encoding statusOutput picks.
func writeError(c *gin.Context, err error) {
	st := statusFor(err)
	if st.Code == http.StatusTooManyRequests || st.Code == http.StatusServiceUnavailable || st.Code == http.StatusGatewayTimeout {
		if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
			c.Header("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
		}
	}
	m := statusOutput(c).media()
	data, err := encode(m, &st)
	if err != nil {
		m = mediaJSON
		data = mustJSON(&st)
	}
	if m == mediaProtobuf {
		audit.EntryFrom(c.Request.Context()).LogResponseObject(&st)
	}
	c.Data(int(st.Code), m.contentType(), data)
	c.Abort()
}

// WriteError sends err as a metav1.Status with its HTTP code, in the
// encoding the request's Accept header prefers (JSON by default), as
// kube-apiserver writes every error: for the filters in front of the API
// (authentication, authorization, priority and fairness).
func WriteError(c *gin.Context, err error) { writeError(c, err) }

// addWarnings adds one RFC 7234 Warning header per message, as Kubernetes
// sends them: `299 - "message"`.
func addWarnings(c *gin.Context, warnings []string) {
	seen := map[string]bool{}
	for _, w := range warnings {
		if w == "" || seen[w] {
			continue
		}
		seen[w] = true
		c.Writer.Header().Add("Warning", fmt.Sprintf("299 - %s", quoteWarning(w)))
	}
}

// warningRecorder adds the warnings recorded in a request's context as
// headers, each once; validating webhooks run in parallel.
type warningRecorder struct {
	mu   sync.Mutex
	c    *gin.Context
	seen map[string]bool
}

func (w *warningRecorder) AddWarning(_, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if text == "" || w.seen[text] {
		return
	}
	w.seen[text] = true
	w.c.Writer.Header().Add("Warning", fmt.Sprintf("299 - %s", quoteWarning(text)))
}

// quoteWarning quotes a warning text as an HTTP quoted-string.
func quoteWarning(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// statusError is a Status error with exactly this code, reason and message.
func statusError(code int, reason metav1.StatusReason, message string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: message,
	}}
}

// notFound is the 404 Kubernetes sends for a path it does not serve.
func notFound() error {
	return statusError(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
}

func methodNotSupported(gr schema.GroupResource, verb string) error {
	return apierrors.NewMethodNotSupported(gr, verb)
}
