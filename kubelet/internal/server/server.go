// Package server is the kubelet API on HTTPS (port 10250), the part of
// Kubernetes' kubelet API the apiserver proxies to: container logs
// (/containerLogs), exec over WebSocket with the remote-command protocol
// (/exec), the node's pods (/pods), a small /stats/summary and /healthz.
// Only clients with a certificate from the cluster CA in the
// system:masters group — the apiserver — may call it; /healthz is open.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/kubelet/internal/logs"
	kruntime "coracle.dev/kubelet/internal/runtime"
)

// AllowedGroup is the group a client certificate must carry.
const AllowedGroup = "system:masters"

// Options configure the server.
type Options struct {
	// Address is host:port; port 0 picks one.
	Address string
	// CertPEM and KeyPEM are the serving certificate, unless
	// GetCertificate gives it at each handshake (one the cluster issues
	// after the server starts, and renews).
	CertPEM, KeyPEM []byte
	GetCertificate  func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs verify client certificates.
	ClientCAs *x509.CertPool
	Runtime   kruntime.Runtime
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
	tlsConfig := &tls.Config{
		GetCertificate: opts.GetCertificate,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      opts.ClientCAs,
		MinVersion:     tls.VersionTLS12,
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
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("GET /pods", s.authorized(http.HandlerFunc(s.servePods)))
	mux.Handle("GET /stats/summary", s.authorized(http.HandlerFunc(s.serveStats)))
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authorized(http.HandlerFunc(s.serveLogs)))
	mux.Handle("/exec/{namespace}/{pod}/{container}", s.authorized(http.HandlerFunc(s.serveExec)))
	mux.Handle("/exec/{namespace}/{pod}/{uid}/{container}", s.authorized(http.HandlerFunc(s.serveExec)))
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

// authorized lets through only verified client certificates of the
// allowed group: 401 without one, 403 for another group.
func (s *Server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		cert := r.TLS.VerifiedChains[0][0]
		if !slices.Contains(cert.Subject.Organization, AllowedGroup) {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", cert.Subject.CommonName, strings.ToLower(r.Method)), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
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
