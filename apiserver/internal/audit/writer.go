package audit

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Wrap sets the Audit-ID response header and returns a ResponseWriter
// that reports the status and, when needed, the body to e. It flushes,
// and hijacks when w can, exactly as w does, so watches and upgraded
// streams (exec, attach, port-forward) are unaffected; Unwrap gives w
// to http.ResponseController. A request the policy does not log gets w
// itself.
func (e *Entry) Wrap(w http.ResponseWriter) http.ResponseWriter {
	if e == nil {
		return w
	}
	setAuditID(w.Header(), e.id)
	if !e.active() {
		return w
	}
	rw := &responseWriter{ResponseWriter: w, e: e}
	if _, ok := w.(http.Hijacker); ok {
		return &hijackWriter{rw}
	}
	return rw
}

// responseWriter observes a net/http ResponseWriter.
type responseWriter struct {
	http.ResponseWriter
	e *Entry
}

func (w *responseWriter) WriteHeader(code int) {
	w.e.observe(code, w.Header())
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	// Without a WriteHeader, the first Write sends 200.
	w.e.observe(http.StatusOK, w.Header())
	w.e.wrote(p)
	return w.ResponseWriter.Write(p)
}

// Flush sends what is buffered; it sends 200 if nothing was sent yet.
func (w *responseWriter) Flush() {
	w.e.observe(http.StatusOK, w.Header())
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap is for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hijackWriter is a responseWriter over a writer that can be hijacked.
type hijackWriter struct {
	*responseWriter
}

// Hijack records 101 Switching Protocols, as upstream, before the
// connection changes hands.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.e.observe(http.StatusSwitchingProtocols, w.Header())
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

// WrapGin is Wrap for gin's ResponseWriter, which records the status on
// WriteHeader and sends it with the first byte.
func (e *Entry) WrapGin(w gin.ResponseWriter) gin.ResponseWriter {
	if e == nil {
		return w
	}
	setAuditID(w.Header(), e.id)
	if !e.active() {
		return w
	}
	return &ginWriter{ResponseWriter: w, e: e}
}

// ginWriter observes a gin ResponseWriter.
type ginWriter struct {
	gin.ResponseWriter
	e *Entry
}

func (w *ginWriter) WriteHeader(code int) {
	w.e.observe(code, w.Header())
	w.ResponseWriter.WriteHeader(code)
}

func (w *ginWriter) WriteHeaderNow() {
	w.e.observe(w.ResponseWriter.Status(), w.Header())
	w.ResponseWriter.WriteHeaderNow()
}

func (w *ginWriter) Write(p []byte) (int, error) {
	w.e.observe(w.ResponseWriter.Status(), w.Header())
	w.e.wrote(p)
	return w.ResponseWriter.Write(p)
}

func (w *ginWriter) WriteString(s string) (int, error) {
	w.e.observe(w.ResponseWriter.Status(), w.Header())
	w.e.wrote([]byte(s))
	return w.ResponseWriter.WriteString(s)
}

func (w *ginWriter) Flush() {
	w.e.observe(w.ResponseWriter.Status(), w.Header())
	w.ResponseWriter.Flush()
}

func (w *ginWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.e.observe(http.StatusSwitchingProtocols, w.Header())
	return w.ResponseWriter.Hijack()
}

// Unwrap is for http.ResponseController.
func (w *ginWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
