// Package server is the Coracle apiserver as a library: New builds it from
// a Config, Start brings it up (etcd, watch caches, HTTPS), Ready says when
// it serves, Close shuts it down. The apiserver binary and the tests' harness
// both use it.
//
// Close stops, in order: readiness (so load balancers move away), open
// watches, the HTTP server (waiting for requests in flight up to
// ShutdownTimeout), the watch caches and compactor, and etcd.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"coracle.dev/apiserver/internal/admission"
	"coracle.dev/apiserver/internal/allocator"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/bootstrap"
	"coracle.dev/apiserver/internal/endpoints"
	"coracle.dev/apiserver/internal/etcd"
	"coracle.dev/apiserver/internal/kinds"
	"coracle.dev/apiserver/internal/metrics"
	"coracle.dev/apiserver/internal/openapi"
	"coracle.dev/apiserver/internal/registry"
	"coracle.dev/apiserver/internal/resource"
	"coracle.dev/apiserver/internal/storage"
	"coracle.dev/apiserver/internal/watchcache"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/version"
)

// Server is one apiserver.
type Server struct {
	cfg Config
	log *zap.Logger

	registry  *resource.Registry
	services  *allocator.Services
	authn     authn.Authenticator
	creds     *credentials
	advertise net.IP

	etcd     *etcd.Etcd
	caches   map[*resource.Descriptor]*watchcache.Cache
	stores   map[*resource.Descriptor]*registry.Store
	metrics  *metrics.Metrics
	api      *endpoints.API
	openapi  *openapi.Handler
	http     *http.Server
	listener net.Listener

	cancel   context.CancelFunc
	bg       sync.WaitGroup
	shutdown chan struct{}
	ready    chan struct{}

	mu           sync.Mutex // guards bootstrapped, bootstrapErr, closing, closed
	bootstrapped bool
	bootErr      error
	closing      bool
	closed       bool
}

// New validates cfg and prepares the apiserver: data directory, cluster CA
// and certificates, admin kubeconfig path. Nothing listens yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	reg, err := kinds.NewRegistry()
	if err != nil {
		return nil, err
	}
	lo, hi, _ := ParsePortRange(cfg.ServiceNodePortRange)
	svcAlloc, err := allocator.NewServices(cfg.ServiceClusterIPRange, lo, hi)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	if cfg.AdminKubeconfig == "" {
		cfg.AdminKubeconfig = filepath.Join(cfg.DataDir, "admin.conf")
	}
	s := &Server{
		cfg: cfg, log: log, registry: reg, services: svcAlloc,
		shutdown: make(chan struct{}), ready: make(chan struct{}),
	}
	s.advertise = s.advertiseIP()
	if s.openapi, err = openapi.New(reg, version.Get().GitVersion); err != nil {
		return nil, err
	}
	ips := append(hostAddresses(), net.ParseIP(svcAlloc.FirstIP()).To4(), s.advertise)
	if bind := net.ParseIP(cfg.BindAddress); !bind.IsUnspecified() {
		ips = append(ips, bind)
	}
	ips = append(ips, net.IPv4(127, 0, 0, 1).To4())
	hostname, _ := os.Hostname()
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if hostname != "" {
		dns = append(dns, hostname)
	}
	if s.creds, err = loadOrCreateCredentials(cfg.DataDir, dedupIPs(ips), dns); err != nil {
		return nil, fmt.Errorf("credentials in %s: %w", cfg.DataDir, err)
	}
	auth := authn.Union{authn.ClientCert{}}
	if cfg.TokenAuthFile != "" {
		tf, err := authn.LoadTokenFile(cfg.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		auth = append(auth, tf)
	}
	s.authn = auth
	return s, nil
}

// advertiseIP is where the `kubernetes` Service's endpoints point: the
// configured address, else a specific non-loopback bind address, else the
// host's first non-loopback address, as kube-apiserver picks it.
func (s *Server) advertiseIP() net.IP {
	if s.cfg.AdvertiseAddress != "" {
		return net.ParseIP(s.cfg.AdvertiseAddress).To4()
	}
	if bind := net.ParseIP(s.cfg.BindAddress); !bind.IsUnspecified() && !bind.IsLoopback() {
		return bind.To4()
	}
	return firstNonLoopback()
}

// AdvertiseAddress is the address the `kubernetes` Service points at.
func (s *Server) AdvertiseAddress() string { return s.advertise.String() }

func dedupIPs(ips []net.IP) []net.IP {
	seen := map[string]bool{}
	var out []net.IP
	for _, ip := range ips {
		if ip == nil || seen[ip.String()] {
			continue
		}
		seen[ip.String()] = true
		out = append(out, ip)
	}
	return out
}

// Start connects to etcd, starts the watch caches and serves HTTPS. It
// returns once the listener is open; Ready closes when requests are served.
func (s *Server) Start(ctx context.Context) error {
	bgCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	var err error
	s.etcd, err = etcd.Start(ctx, etcd.Options{
		Servers: s.cfg.EtcdServers, CAFile: s.cfg.EtcdCAFile, CertFile: s.cfg.EtcdCertFile, KeyFile: s.cfg.EtcdKeyFile,
		DataDir: s.cfg.DataDir, ClientURL: s.cfg.EmbeddedEtcdClientURL, PeerURL: s.cfg.EmbeddedEtcdPeerURL, Log: s.log,
	})
	if err != nil {
		cancel()
		return err
	}
	s.metrics = metrics.New(s.watcherCounts)
	store := storage.New(s.etcd.Client, s.metrics.ObserveEtcd)
	s.caches = map[*resource.Descriptor]*watchcache.Cache{}
	s.stores = map[*resource.Descriptor]*registry.Store{}
	for _, d := range s.registry.All() {
		s.caches[d] = watchcache.New(watchcache.Config{
			Client: s.etcd.Client, Prefix: d.KeyPrefix(), NewObject: d.New, Attrs: d.Fields,
			Capacity: s.cfg.WatchCacheSize, BookmarkInterval: s.cfg.WatchBookmarkInterval,
			RequestProgress: s.etcd.Client.RequestProgress, Log: s.log.Named("watchcache"),
		})
	}
	nsDesc, _ := s.registry.Lookup("", "v1", "namespaces")
	nsStore := registry.New(registry.Options{Descriptor: nsDesc, Storage: store, Cache: s.caches[nsDesc], Log: s.log})
	lifecycle := &registry.NamespaceLifecycle{Namespaces: nsStore}
	for _, d := range s.registry.All() {
		if d == nsDesc {
			s.stores[d] = nsStore
			continue
		}
		opts := registry.Options{Descriptor: d, Storage: store, Cache: s.caches[d], Log: s.log}
		if d.Namespaced {
			opts.Namespaces = lifecycle
		}
		if d.Group == "" && d.Resource == "services" {
			opts.Allocator = s.services
		}
		if d.Group == "" && d.Resource == "pods" {
			opts.Admitters = []registry.Admitter{&admission.Priority{Classes: priorityClasses{s}}, admission.DefaultTolerations{}}
		}
		s.stores[d] = registry.New(opts)
	}
	for _, c := range s.caches {
		s.goBackground(func() { c.Run(bgCtx) })
	}
	s.goBackground(func() { s.requestProgress(bgCtx) })
	s.goBackground(func() { storage.RunCompactor(bgCtx, s.etcd.Client, s.cfg.CompactionInterval, s.log) })

	addr := net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.SecurePort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.stopBackground()
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.listener = ln
	scheme, err := resource.NewScheme()
	if err != nil {
		s.stopBackground()
		_ = ln.Close()
		return err
	}
	s.api = endpoints.New(endpoints.Options{
		Registry: s.registry, Scheme: scheme, Stores: s.stores, ServerAddress: s.hostPort(),
		MinRequestTimeout: s.cfg.MinRequestTimeout, Shutdown: s.shutdown,
		KubeletTransport: s.creds.kubeletTransport(),
		LongRunning:      func(res string, d int) { s.metrics.LongRunning.WithLabelValues("WATCH", res).Add(float64(d)) },
		Log:              s.log,
	})
	s.http = &http.Server{
		Handler: s.engine(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{s.creds.serving.Cert.Raw}, PrivateKey: s.creds.serving.Key, Leaf: s.creds.serving.Cert}},
			ClientCAs:    s.creds.ca.CertPool(),
			ClientAuth:   tls.VerifyClientCertIfGiven,
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 1000},
		ErrorLog:          httpErrorLog(s.log),
	}
	if err := s.creds.writeAdminKubeconfig(s.cfg.AdminKubeconfig, s.URL()); err != nil {
		s.stopBackground()
		_ = ln.Close()
		return fmt.Errorf("write %s: %w", s.cfg.AdminKubeconfig, err)
	}
	s.goBackground(func() {
		if err := s.http.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("https server stopped", zap.Error(err))
		}
	})
	s.goBackground(func() { s.bootstrap(bgCtx) })
	s.log.Info("apiserver listening", zap.String("address", ln.Addr().String()), zap.String("admin-kubeconfig", s.cfg.AdminKubeconfig))
	return nil
}

func (s *Server) goBackground(f func()) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

func (s *Server) stopBackground() {
	s.cancel()
	s.bg.Wait()
	if s.etcd != nil {
		s.etcd.Close()
	}
}

// requestProgress asks etcd every few seconds how far the watches are, so
// idle caches' revisions (and the bookmarks they send) keep moving.
func (s *Server) requestProgress(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.etcd.Client.RequestProgress(ctx)
		}
	}
}

// bootstrap waits for the caches, then creates the bootstrap objects,
// retrying until it succeeds.
func (s *Server) bootstrap(ctx context.Context) {
	for ctx.Err() == nil {
		if s.cachesReady() != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
				continue
			}
		}
		err := bootstrap.Run(ctx, bootstrap.Stores{
			Namespaces:      s.store("", "namespaces"),
			Services:        s.store("", "services"),
			Endpoints:       s.store("", "endpoints"),
			EndpointSlices:  s.store("discovery.k8s.io", "endpointslices"),
			PriorityClasses: s.store("scheduling.k8s.io", "priorityclasses"),
		}, bootstrap.Options{ServiceIP: s.services.FirstIP(), AdvertiseIP: s.advertise.String(), Port: s.Port()})
		s.mu.Lock()
		s.bootErr = err
		s.bootstrapped = err == nil
		s.mu.Unlock()
		if err == nil {
			close(s.ready)
			s.log.Info("apiserver ready")
			return
		}
		s.log.Warn("bootstrap failed; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Server) store(group, res string) *registry.Store {
	for d, st := range s.stores {
		if d.Group == group && d.Resource == res {
			return st
		}
	}
	panic(fmt.Sprintf("no store for %s", schema.GroupResource{Group: group, Resource: res}))
}

func (s *Server) cachesReady() error {
	for d, c := range s.caches {
		if !c.Ready() {
			return fmt.Errorf("%s not synced", d)
		}
	}
	return nil
}

func (s *Server) bootstrapErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bootstrapped {
		return nil
	}
	if s.bootErr != nil {
		return s.bootErr
	}
	return errors.New("not done")
}

func (s *Server) shutdownErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errors.New("shutting down")
	}
	return nil
}

func (s *Server) watcherCounts() map[string]int {
	out := map[string]int{}
	for d, c := range s.caches {
		out[d.String()] = c.WatcherCount()
	}
	return out
}

// Ready is closed once the apiserver serves requests.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Port is the port the apiserver listens on.
func (s *Server) Port() int {
	if s.listener == nil {
		return s.cfg.SecurePort
	}
	return s.listener.Addr().(*net.TCPAddr).Port
}

// hostPort is the address clients use: loopback when bound to all
// addresses, else the bind address.
func (s *Server) hostPort() string {
	host := s.cfg.BindAddress
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(s.Port()))
}

// URL is the apiserver's base URL.
func (s *Server) URL() string { return "https://" + s.hostPort() }

// AdminKubeconfig is the path of the admin kubeconfig.
func (s *Server) AdminKubeconfig() string { return s.cfg.AdminKubeconfig }

// RESTConfig returns a client-go configuration with admin credentials.
func (s *Server) RESTConfig() (*rest.Config, error) {
	return kubeconfig.RESTConfigFromCredentials(s.creds.adminCredentials(s.URL()))
}

// CACertPEM is the cluster CA certificate.
func (s *Server) CACertPEM() []byte { return s.creds.ca.CertPEM }

// Close shuts the apiserver down; see the package comment for the order.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed, s.closing = true, true
	s.mu.Unlock()
	close(s.shutdown)
	var err error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		err = s.http.Shutdown(ctx)
		cancel()
	}
	if s.cancel != nil {
		s.stopBackground()
	}
	s.log.Info("apiserver stopped")
	return err
}

// Run starts the apiserver and serves until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

func emptyGR() schema.GroupResource { return schema.GroupResource{} }

// httpErrorLog sends net/http's own messages (mostly TLS handshakes of
// clients that went away) to the debug level.
func httpErrorLog(log *zap.Logger) *stdlog.Logger {
	l, err := zap.NewStdLogAt(log.Named("http"), zap.DebugLevel)
	if err != nil {
		return zap.NewStdLog(log.Named("http"))
	}
	return l
}
