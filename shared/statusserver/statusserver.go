// Package statusserver serves a component's /healthz, /livez, /readyz and
// /metrics over plain HTTP, by default on loopback, as every Coracle
// component exposes them.
package statusserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Check reports whether one part of the component is ready.
type Check func(ctx context.Context) error

// Server is a component's status endpoint.
type Server struct {
	addr     string
	registry *prometheus.Registry
	log      *zap.Logger

	mu     sync.Mutex // guards checks and names
	checks []Check
	names  []string

	http     *http.Server
	listener net.Listener
	done     chan struct{}
}

// New returns a server for addr ("127.0.0.1:10259"; port 0 picks one). It
// creates the component's metrics registry, with Go and process
// collectors; the component registers its own metrics on Registry().
func New(addr string, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Server{addr: addr, registry: reg, log: log}
}

// Registry is where the component registers its metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// AddReadyCheck adds a check /readyz runs.
func (s *Server) AddReadyCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = append(s.names, name)
	s.checks = append(s.checks, c)
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.listener = ln
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	ok := func(c *gin.Context) { c.String(http.StatusOK, "ok") }
	r.GET("/healthz", ok)
	r.GET("/livez", ok)
	r.GET("/readyz", s.serveReady)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))
	s.http = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("status server stopped", zap.Error(err))
		}
	}()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	if s.listener == nil {
		return s.addr
	}
	return s.listener.Addr().String()
}

// Close stops the server.
func (s *Server) Close(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	err := s.http.Shutdown(ctx)
	<-s.done
	return err
}

func (s *Server) serveReady(c *gin.Context) {
	s.mu.Lock()
	names, checks := append([]string{}, s.names...), append([]Check{}, s.checks...)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	var b strings.Builder
	failed := false
	for i, check := range checks {
		if err := check(ctx); err != nil {
			failed = true
			b.WriteString("[-]" + names[i] + " failed: " + err.Error() + "\n")
		} else {
			b.WriteString("[+]" + names[i] + " ok\n")
		}
	}
	if failed {
		b.WriteString("readyz check failed\n")
		c.String(http.StatusServiceUnavailable, b.String())
		return
	}
	if _, verbose := c.GetQuery("verbose"); verbose {
		b.WriteString("readyz check passed\n")
		c.String(http.StatusOK, b.String())
		return
	}
	c.String(http.StatusOK, "ok")
}
