package audit

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"coracle.dev/apiserver/internal/authz"
)

// Middleware audits every request through gin: put it after
// authentication, before authorization, so refused requests are logged
// with their decision (the authorizer calls EntryFrom(ctx).Authorized).
// attributes describes the request with its authenticated user. On a
// nil Logger it only sets the Audit-ID header.
func (l *Logger) Middleware(attributes func(*gin.Context) authz.Attributes) gin.HandlerFunc {
	return func(c *gin.Context) {
		if l == nil {
			setAuditID(c.Writer.Header(), auditID(c.Request))
			c.Next()
			return
		}
		e := l.Begin(c.Request, attributes(c))
		c.Request = c.Request.WithContext(WithEntry(c.Request.Context(), e))
		c.Writer = e.WrapGin(c.Writer)
		defer func() {
			if p := recover(); p != nil {
				e.Panic(p)
				panic(p)
			}
			// A handler that only set a status (or nothing: gin sends 200)
			// wrote no byte through the wrapper.
			if e.active() {
				e.observe(c.Writer.Status(), c.Writer.Header())
			}
			e.Finish()
		}()
		c.Next()
	}
}

// Handler is Middleware for a net/http chain.
func (l *Logger) Handler(next http.Handler, attributes func(*http.Request) authz.Attributes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l == nil {
			setAuditID(w.Header(), auditID(r))
			next.ServeHTTP(w, r)
			return
		}
		e := l.Begin(r, attributes(r))
		r = r.WithContext(WithEntry(r.Context(), e))
		w = e.Wrap(w)
		defer func() {
			if p := recover(); p != nil {
				e.Panic(p)
				panic(p)
			}
			e.Finish()
		}()
		next.ServeHTTP(w, r)
	})
}
