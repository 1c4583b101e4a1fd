// Package server is the kubelet API on HTTPS (port 10250), the part of
// Kubernetes' kubelet API the apiserver proxies to: container logs
// (/containerLogs), exec over WebSocket with the remote-command protocol
// (/exec), port forwarding into a pod's network namespace over SPDY,
// SPDY tunnelled in a WebSocket and the WebSocket channel protocol
// (/portForward, portforward.go), the node's pods (/pods), a small
// /stats/summary and /healthz.
// Every request is authenticated (a client certificate of the client CA,
// a bearer token the apiserver reviews, or anonymous if allowed) and
// authorized (a SubjectAccessReview of a verb on nodes/proxy, nodes/stats,
// nodes/log, …; see auth.go), as Kubernetes' kubelet in webhook mode.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/kubelet/internal/logs"
	kruntime "coracle.dev/kubelet/internal/runtime"
)

// Options configure the server.
type Options struct {
	// Address is host:port; port 0 picks one.
	Address string
	// CertPEM and KeyPEM are the serving certificate, unless
	// GetCertificate gives it at each handshake (one the cluster issues
	// after the server starts, and renews).
	CertPEM, KeyPEM []byte
	GetCertificate  func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// NodeName is the node whose subresources requests are authorized
	// on (nodes/NAME/proxy, …).
	NodeName string
	// Authenticator says who sent a request, Authorizer whether they
	// may; both are required.
	Authenticator *Authenticator
	Authorizer    Authorizer
	Runtime       kruntime.Runtime
	// Pods lists the pods of this kubelet (from its cache; not to be
	// changed).
	Pods func() []*v1.Pod
	Log  *zap.Logger
}

// Server is the kubelet API.
type Server struct {
	opts     Options
	log      *zap.Logger
	http     *http.Server
	listener net.Listener
	done     chan struct{}
	started  time.Time
}

// New returns a server; Start serves.
func New(opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Authenticator == nil || opts.Authorizer == nil {
		return nil, errors.New("kubelet API: an authenticator and an authorizer are required")
	}
	tlsConfig := &tls.Config{
		GetCertificate: opts.GetCertificate,
		// The authenticator verifies the certificate, so a client with
		// one of another CA is answered 401 (or authenticated by its
		// token), not cut off in the handshake.
		ClientAuth: tls.RequestClientCert,
		MinVersion: tls.VersionTLS12,
	}
	if opts.GetCertificate == nil {
		cert, err := tls.X509KeyPair(opts.CertPEM, opts.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("kubelet serving certificate: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	s := &Server{opts: opts, log: opts.Log, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.authorized(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })))
	mux.Handle("GET /pods", s.authorized(http.HandlerFunc(s.servePods)))
	mux.Handle("GET /stats/summary", s.authorized(http.HandlerFunc(s.serveStats)))
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authorized(http.HandlerFunc(s.serveLogs)))
	mux.Handle("/exec/{namespace}/{pod}/{container}", s.authorized(http.HandlerFunc(s.serveExec)))
	mux.Handle("/exec/{namespace}/{pod}/{uid}/{container}", s.authorized(http.HandlerFunc(s.serveExec)))
	mux.Handle("/attach/{namespace}/{pod}/{container}", s.authorized(http.HandlerFunc(s.serveAttach)))
	mux.Handle("/attach/{namespace}/{pod}/{uid}/{container}", s.authorized(http.HandlerFunc(s.serveAttach)))
	mux.Handle("/portForward/{namespace}/{pod}", s.authorized(http.HandlerFunc(s.servePortForward)))
	mux.Handle("/portForward/{namespace}/{pod}/{uid}", s.authorized(http.HandlerFunc(s.servePortForward)))
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tlsConfig,
		ErrorLog:          zap.NewStdLog(opts.Log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
	}
	return s, nil
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Address)
	if err != nil {
		return err
	}
	s.listener = ln
	s.started = time.Now()
	go func() {
		defer close(s.done)
		if err := s.http.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("kubelet API stopped", zap.Error(err))
		}
	}()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	if s.listener == nil {
		return s.opts.Address
	}
	return s.listener.Addr().String()
}

// Close stops the server; streams in flight are cut.
func (s *Server) Close() error {
	if s.listener == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	<-s.done
	return err
}

// authorized lets through the requests whose user may make them, as
// Kubernetes' kubelet answers the others: 401 "Unauthorized" without a
// credential it accepts, 403 naming the user, verb, resource and
// subresources when no check allows, 500 when the apiserver could not
// be asked.
func (s *Server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := s.opts.Authenticator.Authenticate(r)
		if err != nil {
			s.log.Info("kubelet API request not authenticated", zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr), zap.Error(err))
		}
		if err != nil || !ok {
			writeText(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		attrs := RequestAttributes(s.opts.NodeName, *u, r)
		subs := make([]string, 0, len(attrs))
		for _, a := range attrs {
			subs = append(subs, a.Subresource)
			allowed, _, err := s.opts.Authorizer.Authorize(r.Context(), a)
			if err != nil {
				s.log.Error("kubelet API authorization", zap.String("user", u.Name), zap.String("verb", a.Verb), zap.String("subresource", a.Subresource), zap.Error(err))
				writeText(w, http.StatusInternalServerError, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=%s, subresource=%s)", u.Name, a.Verb, a.Resource, a.Subresource))
				return
			}
			if allowed {
				next.ServeHTTP(w, r)
				return
			}
		}
		s.log.Debug("kubelet API request forbidden", zap.String("user", u.Name), zap.String("verb", attrs[0].Verb), zap.Strings("subresources", subs))
		writeText(w, http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)\n", u.Name, attrs[0].Verb, attrs[0].Resource, subs))
	})
}

// writeText answers a plain-text body with the status.
func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func (s *Server) servePods(w http.ResponseWriter, _ *http.Request) {
	list := v1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.opts.Pods() {
		list.Items = append(list.Items, *p)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// serveStats answers a small summary: the node and its pods' containers.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	type podRef struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	}
	type containerStats struct {
		Name      string    `json:"name"`
		StartTime time.Time `json:"startTime"`
	}
	type podStats struct {
		PodRef     podRef           `json:"podRef"`
		StartTime  time.Time        `json:"startTime"`
		Containers []containerStats `json:"containers"`
	}
	out := struct {
		Node struct {
			NodeName  string    `json:"nodeName"`
			StartTime time.Time `json:"startTime"`
		} `json:"node"`
		Pods []podStats `json:"pods"`
	}{}
	out.Node.StartTime = s.started
	out.Pods = []podStats{}
	for _, p := range s.opts.Pods() {
		out.Node.NodeName = p.Spec.NodeName
		ps := podStats{PodRef: podRef{p.Name, p.Namespace, string(p.UID)}}
		if rp, err := s.opts.Runtime.GetPod(r.Context(), p.UID); err == nil {
			for _, c := range rp.Containers {
				if c.State == kruntime.StateRunning {
					ps.Containers = append(ps.Containers, containerStats{Name: c.Name, StartTime: c.StartedAt})
				}
			}
		}
		if p.Status.StartTime != nil {
			ps.StartTime = p.Status.StartTime.Time
		}
		out.Pods = append(out.Pods, ps)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// findPod returns the pod of this node named namespace/name.
func (s *Server) findPod(namespace, name string) *v1.Pod {
	for _, p := range s.opts.Pods() {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

func hasContainer(pod *v1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// serveLogs streams a container's log as GET /containerLogs does.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	pod := s.findPod(ns, name)
	if pod == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s not found", ns, name), http.StatusNotFound)
		return
	}
	if !hasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %s is not valid for pod %s", container, name), http.StatusBadRequest)
		return
	}
	opts := logs.Options{TailLines: -1, Follow: boolParam(q.Get("follow")), Timestamps: boolParam(q.Get("timestamps"))}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "tailLines: want a non-negative integer", http.StatusBadRequest)
			return
		}
		opts.TailLines = n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			http.Error(w, "limitBytes: want a positive integer", http.StatusBadRequest)
			return
		}
		opts.LimitBytes = n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			http.Error(w, "sinceSeconds: want a positive integer", http.StatusBadRequest)
			return
		}
		opts.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			http.Error(w, "sinceTime: want an RFC 3339 time", http.StatusBadRequest)
			return
		}
		opts.Since = t
	}
	rp, err := s.opts.Runtime.GetPod(r.Context(), pod.UID)
	if err != nil {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, name), http.StatusBadRequest)
		return
	}
	ctr := rp.Latest(container)
	if boolParam(q.Get("previous")) {
		ctr = rp.Previous(container)
		if ctr == nil {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, name), http.StatusBadRequest)
			return
		}
	}
	if ctr == nil {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, name), http.StatusBadRequest)
		return
	}
	if ctr.LogPath == "" {
		http.Error(w, fmt.Sprintf("container %q in pod %q has no log", container, name), http.StatusNotFound)
		return
	}
	id := ctr.ID
	exited := func() bool {
		p, err := s.opts.Runtime.GetPod(context.Background(), pod.UID)
		if err != nil {
			return true
		}
		for _, c := range p.Containers {
			if c.ID == id {
				return c.State == kruntime.StateExited
			}
		}
		return true
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	if err := logs.Read(r.Context(), ctr.LogPath, opts, w, flush, exited); err != nil && r.Context().Err() == nil {
		s.log.Warn("read container log", zap.String("pod", ns+"/"+name), zap.String("container", container), zap.Error(err))
	}
	flush()
}

func boolParam(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}
