package endpoints

import (
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
	"sigs.k8s.io/yaml"
)

var emptyGR = schema.GroupResource{}

// writeJSON sends v as JSON with code.
func writeJSON(c *gin.Context, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(c, apierrors.NewInternalError(err))
		return
	}
	c.Data(code, "application/json", data)
}

// writeObject sends obj in the negotiated form.
func writeObject(c *gin.Context, code int, obj runtime.Object, out output) {
	if out != outYAML {
		writeJSON(c, code, obj)
		return
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		writeError(c, apierrors.NewInternalError(err))
		return
	}
	c.Data(code, "application/yaml", data)
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

// writeError sends err as a metav1.Status with its HTTP code.
func writeError(c *gin.Context, err error) {
	st := statusFor(err)
	if st.Code == http.StatusTooManyRequests || st.Code == http.StatusServiceUnavailable || st.Code == http.StatusGatewayTimeout {
		if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
			c.Header("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
		}
	}
	writeJSON(c, int(st.Code), &st)
	c.Abort()
}

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
