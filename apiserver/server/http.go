package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"coracle.dev/apiserver/internal/audit"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/endpoints"
	"coracle.dev/apiserver/internal/flowcontrol"
	"coracle.dev/apiserver/internal/nodeauth"
	"coracle.dev/shared/version"
)

const ctxUser = "coracle.user"

func (s *Server) engine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// As kube-apiserver's filters: who, then the audit entry (which
	// records a refused login too), then as whom, then may they.
	r.Use(s.recoverMiddleware, s.metricsMiddleware, s.authnMiddleware, s.audit.Middleware(requestAttributes),
		s.impersonationMiddleware, s.flowControlMiddleware(), s.authzMiddleware)
	r.GET("/healthz", s.serveLive)
	r.GET("/livez", s.serveLive)
	r.GET("/readyz", s.serveReady)
	r.GET("/version", func(c *gin.Context) { c.JSON(http.StatusOK, version.Get()) })
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(prometheus.Gatherers{s.metrics.Registry, flowcontrol.Gatherer()}, promhttp.HandlerOpts{})))
	s.api.Install(r)
	s.openapi.Install(r)
	s.installOIDC(r)
	r.NoRoute(func(c *gin.Context) {
		st := apierrors.NewGenericServerResponse(http.StatusNotFound, "", emptyGR(), "", "the server could not find the requested resource", 0, false).Status()
		st.Kind, st.APIVersion = "Status", "v1"
		c.JSON(http.StatusNotFound, &st)
	})
	return r
}

func (s *Server) recoverMiddleware(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panicked", zap.Any("panic", p), zap.String("path", c.Request.URL.Path), zap.Stack("stack"))
			st := apierrors.NewInternalError(errors.New("the server panicked serving the request")).Status()
			st.Kind, st.APIVersion = "Status", "v1"
			c.AbortWithStatusJSON(http.StatusInternalServerError, &st)
		}
	}()
	c.Next()
}

// authnMiddleware tells who sends the request; with --anonymous-auth a
// request with no credential is system:anonymous, and the authorizer
// decides what that user may read (the health and version endpoints).
func (s *Server) authnMiddleware(c *gin.Context) {
	user, ok, err := s.authn.Authenticate(c.Request)
	if !ok {
		if err != nil {
			s.log.Debug("authentication failed", zap.Error(err), zap.String("remote", c.ClientIP()))
		}
		s.audit.FailedAuthentication(c.Writer, c.Request, requestAttributes(c))
		st := metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Message: "Unauthorized", Reason: metav1.StatusReasonUnauthorized, Code: http.StatusUnauthorized,
		}
		c.AbortWithStatusJSON(http.StatusUnauthorized, &st)
		return
	}
	c.Set(ctxUser, user)
	c.Request = c.Request.WithContext(authn.WithUser(c.Request.Context(), user))
	c.Next()
}

// authzMiddleware refuses with 403 what the authorizer does not allow the
// authenticated user, before routing, as kube-apiserver does: an
// anonymous client learns nothing, not even which paths exist.
func (s *Server) authzMiddleware(c *gin.Context) {
	attrs := requestAttributes(c)
	ctx := c.Request.Context()
	if sel := c.Request.URL.Query().Get("fieldSelector"); sel != "" && attrs.ResourceRequest {
		// The Node authorizer lets a kubelet list only its own pods.
		if fs, err := fields.ParseSelector(sel); err == nil {
			ctx = nodeauth.WithFieldSelector(ctx, fs.Requirements())
		}
	}
	decision, reason, err := s.authz.Authorize(ctx, attrs)
	audit.EntryFrom(ctx).Authorized(decision, reason, err)
	if decision == authz.DecisionAllow {
		c.Next()
		return
	}
	if err != nil {
		s.log.Error("authorization failed", zap.Error(err))
		st := apierrors.NewInternalError(err).Status()
		st.Kind, st.APIVersion = "Status", "v1"
		c.AbortWithStatusJSON(http.StatusInternalServerError, &st)
		return
	}
	st := authz.Forbidden(attrs, reason).Status()
	if ce := s.log.Check(zap.DebugLevel, "forbidden"); ce != nil {
		ce.Write(zap.String("message", st.Message), zap.String("path", attrs.Path))
	}
	st.Kind, st.APIVersion = "Status", "v1"
	c.AbortWithStatusJSON(http.StatusForbidden, &st)
}

// UserFrom returns the authenticated user of a request.
func UserFrom(c *gin.Context) (*authn.User, bool) {
	v, ok := c.Get(ctxUser)
	if !ok {
		return nil, false
	}
	u, ok := v.(*authn.User)
	return u, ok
}

func (s *Server) metricsMiddleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	code := strconv.Itoa(c.Writer.Status())
	verb := strings.ToLower(c.Request.Method)
	var group, ver, res, sub string
	if info, ok := endpoints.RequestInfoFrom(c); ok {
		verb, group, ver, res, sub = info.Verb, info.Group, info.Version, info.Resource, info.Subresource
	}
	verbLabel := strings.ToUpper(verb)
	s.metrics.Requests.WithLabelValues(verbLabel, group, ver, res, sub, code).Inc()
	if verb != endpoints.VerbWatch {
		s.metrics.Latency.WithLabelValues(verbLabel, group, ver, res, sub).Observe(time.Since(start).Seconds())
	}
	if ce := s.log.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(zap.String("method", c.Request.Method), zap.String("uri", c.Request.RequestURI),
			zap.String("code", code), zap.Duration("latency", time.Since(start)))
	}
}

func (s *Server) serveLive(c *gin.Context) {
	c.String(http.StatusOK, "ok")
}

// serveReady answers ok once etcd answers, every watch cache has listed
// and the bootstrap objects exist; and fails from the moment shutdown
// begins, so load balancers stop sending requests.
func (s *Server) serveReady(c *gin.Context) {
	type check struct {
		name string
		err  error
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := []check{
		{"ping", nil},
		{"etcd", s.etcd.Healthy(ctx)},
		{"watch-caches", s.cachesReady()},
		{"bootstrap", s.bootstrapErr()},
		{"crd-informer-synced", s.custom.syncedErr()},
		{"shutdown", s.shutdownErr()},
	}
	var b strings.Builder
	failed := false
	for _, ch := range checks {
		if ch.err != nil {
			failed = true
			b.WriteString("[-]" + ch.name + " failed: " + ch.err.Error() + "\n")
		} else {
			b.WriteString("[+]" + ch.name + " ok\n")
		}
	}
	if failed {
		b.WriteString("readyz check failed\n")
		c.String(http.StatusInternalServerError, b.String())
		return
	}
	if _, verbose := c.GetQuery("verbose"); verbose {
		b.WriteString("readyz check passed\n")
		c.String(http.StatusOK, b.String())
		return
	}
	c.String(http.StatusOK, "ok")
}
