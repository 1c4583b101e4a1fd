// Package server is the Coracle apiserver as a library: New builds it from
// a Config; the Server is a component.Component: Start brings it up (etcd,
// watch caches, HTTPS), Ready says when it serves, Close shuts it down, and
// Run does all of that for the binary. The apiserver's own tests start it
// in-process (internal/servertest); every other module's tests start the
// built binary.
//
// Close stops, in order: readiness (so load balancers move away), open
// watches, the HTTP server (waiting for requests in flight up to
// ShutdownTimeout), the watch caches and compactor, and etcd.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"coracle.dev/apiserver/internal/admission/resourcequota"
	"coracle.dev/apiserver/internal/allocator"
	"coracle.dev/apiserver/internal/apiresource"
	"coracle.dev/apiserver/internal/audit"
	"coracle.dev/apiserver/internal/authn"
	"coracle.dev/apiserver/internal/authz"
	"coracle.dev/apiserver/internal/bootstrap"
	"coracle.dev/apiserver/internal/endpoints"
	"coracle.dev/apiserver/internal/etcd"
	"coracle.dev/apiserver/internal/etcdstore"
	"coracle.dev/apiserver/internal/genericstore"
	"coracle.dev/apiserver/internal/kinds"
	"coracle.dev/apiserver/internal/kinds/authentication"
	"coracle.dev/apiserver/internal/kinds/authorization"
	"coracle.dev/apiserver/internal/metrics"
	"coracle.dev/apiserver/internal/nodeauth"
	"coracle.dev/apiserver/internal/openapi"
	"coracle.dev/apiserver/internal/rbac"
	"coracle.dev/apiserver/internal/watchcache"
	"coracle.dev/shared/component"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/version"
)

// Server is one apiserver.
type Server struct {
	component.Lifecycle

	cfg Config
	log *zap.Logger

	registry *apiresource.Registry
	services *allocator.Services
	authn    authn.Authenticator
	authz    authz.Authorizer
	// tokens are the bearer token authenticators, which TokenReviews use.
	tokens authn.BearerToken
	// rbac is the RBAC authorizer when --authorization-mode has RBAC;
	// nodeRules says the Node authorizer is on.
	rbac      *rbac.Authorizer
	nodeRules bool
	sa        *serviceAccounts
	// nodeObjects feed the Node authorizer and NodeRestriction.
	nodeObjects *nodeObjects
	// audit is the audit log; nil, none.
	audit       *audit.Logger
	restriction *nodeauth.Restriction
	// quota is the ResourceQuota admission every kind's admitter shares
	// (quota.go); made with the first of them.
	quota     *resourcequota.Admission
	creds     *credentials
	advertise net.IP
	// kubeletCAs verify kubelets' serving certificates; nil, they are
	// not verified.
	kubeletCAs *x509.CertPool

	etcd   *etcd.Etcd
	caches map[*apiresource.Descriptor]*watchcache.Cache
	stores map[*apiresource.Descriptor]*genericstore.Store
	// byResource finds a store by group and resource, for the
	// authorizers and authenticators that read objects on every request.
	byResource map[schema.GroupResource]*genericstore.Store
	// fc is the flow-control filter (priority and fairness).
	fc flowControlState
	// dynamic is the admission webhooks' dispatcher (webhooks.go).
	dynamic dynamicAdmission
	// custom serves the kinds CustomResourceDefinitions define.
	custom *customKinds
	// aggregation proxies to the extension apiservers APIServices name
	// (aggregation.go).
	aggregation *aggregation
	// fields are the field managers (managedFields, server-side apply).
	fields *fieldManagers
	// etcdStore, namespaceLifecycle and bgCtx are what stores made
	// while the server runs (custom resources) are built with.
	etcdStore          *etcdstore.Store
	namespaceLifecycle *genericstore.NamespaceLifecycle
	bgCtx              context.Context
	metrics            *metrics.Metrics
	api                *endpoints.API
	openapi            *openapi.Handler
	http               *http.Server
	listener           net.Listener

	// shutdown closes when Close begins: /readyz fails and watches end.
	shutdown chan struct{}

	mu           sync.Mutex // guards bootstrapped and bootErr
	bootstrapped bool
	bootErr      error
}

var _ component.Component = (*Server)(nil)

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
	// The review kinds answer with the authenticators and authorizers
	// built below: they reach them through the Server.
	s := &Server{cfg: cfg, log: log, shutdown: make(chan struct{})}
	descs := kinds.All()
	descs = append(descs, authentication.All(tokenReviewer{s}, cfg.APIAudiences)...)
	descs = append(descs, authorization.All(authorizer{s}, ruleResolver{s})...)
	reg, err := apiresource.NewRegistry(descs...)
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
	s.cfg, s.registry, s.services = cfg, reg, svcAlloc
	s.advertise = s.advertiseIP()
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
	if s.aggregation, err = newAggregation(s); err != nil {
		return nil, fmt.Errorf("front-proxy credentials in %s: %w", cfg.DataDir, err)
	}
	// Read after the credentials: the kubelet CA may be the cluster CA
	// this very start has just created.
	if cfg.KubeletCertificateAuthority != "" {
		if s.kubeletCAs, err = loadCertPool(cfg.KubeletCertificateAuthority); err != nil {
			return nil, fmt.Errorf("--kubelet-certificate-authority: %w", err)
		}
	}
	var tokens authn.BearerToken
	if cfg.TokenAuthFile != "" {
		tf, err := authn.LoadTokenFile(cfg.TokenAuthFile)
		if err != nil {
			return nil, fmt.Errorf("--token-auth-file: %w", err)
		}
		tokens = append(tokens, tf)
	}
	tokens = append(tokens, &authn.BootstrapTokens{Secrets: s.secret})
	if err := s.setUpServiceAccounts(); err != nil {
		return nil, err
	}
	tokens = append(tokens, s.sa.authn)
	if d, ok := reg.Lookup("", "v1", "serviceaccounts"); ok {
		d.Actions = map[string]*apiresource.Action{"token": s.tokenAction()}
	}
	// After the actions: the documents list serviceaccounts/token.
	if s.openapi, err = openapi.New(reg, version.Get().GitVersion); err != nil {
		return nil, err
	}
	if s.fields, err = newFieldManagers(s); err != nil {
		return nil, err
	}
	s.tokens = tokens
	s.authn = authn.Union{authn.ClientCert{Roots: s.creds.ca.CertPool()}, tokens}
	if cfg.AnonymousAuth {
		s.authn = authn.WithAnonymous(s.authn)
	}
	if err := s.openAudit(); err != nil {
		return nil, err
	}
	s.nodeObjects = newNodeObjects(s)
	if err := s.buildAuthorizer(); err != nil {
		return nil, err
	}
	return s, nil
}

// secret reads a Secret for the bootstrap token authenticator; nil when
// there is none.
func (s *Server) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	obj, err := s.lookup(ctx, "", "secrets", namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
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
// returns once the listener is open (ctx bounds that: etcd may take a
// while); Ready closes when requests are served.
func (s *Server) Start(ctx context.Context) error {
	return s.Lifecycle.Start(func(bgCtx context.Context) error { return s.start(ctx, bgCtx) })
}

func (s *Server) start(ctx, bgCtx context.Context) error {
	var err error
	e := s.cfg.EtcdConfig
	s.etcd, err = etcd.Start(ctx, etcd.Options{
		Servers: e.EtcdServers, CAFile: e.EtcdCAFile, CertFile: e.EtcdCertFile, KeyFile: e.EtcdKeyFile,
		DataDir: s.cfg.DataDir, ClientURL: e.EmbeddedEtcdClientURL, PeerURL: e.EmbeddedEtcdPeerURL, Log: s.log,
	})
	if err != nil {
		return err
	}
	s.OnClose(func(context.Context) error {
		_ = s.audit.Close()
		s.etcd.Close()
		s.log.Info("apiserver stopped")
		return nil
	})
	s.metrics = metrics.New(s.watcherCounts)
	transformers, err := s.encryption()
	if err != nil {
		return err
	}
	store := s.buildStores(transformers)
	// Values an older key or provider wrote are rewritten with the first,
	// so a key is rotated by a restart (encryption.Config's doc).
	for prefix := range transformers {
		n, err := store.RewriteStale(ctx, prefix)
		if err != nil {
			return fmt.Errorf("re-encrypt %s: %w", prefix, err)
		}
		if n > 0 {
			s.log.Info("re-encrypted with the current key", zap.String("prefix", prefix), zap.Int("objects", n))
		}
	}
	for _, c := range s.caches {
		s.Go(bgCtx, func(ctx context.Context) error { c.Run(ctx); return nil })
	}
	s.Go(bgCtx, func(ctx context.Context) error { s.requestProgress(ctx); return nil })
	s.Go(bgCtx, func(ctx context.Context) error { s.nodeObjects.run(ctx); return nil })
	s.bgCtx = bgCtx
	s.custom = newCustomKinds(s)
	s.Go(bgCtx, func(ctx context.Context) error { s.custom.run(ctx); return nil })
	s.Go(bgCtx, func(ctx context.Context) error { s.runAPIServiceRegistration(ctx); return nil })
	s.Go(bgCtx, func(ctx context.Context) error { s.aggregation.run(ctx); return nil })
	s.Go(bgCtx, func(ctx context.Context) error {
		etcdstore.RunCompactor(ctx, s.etcd.Client, s.cfg.CompactionInterval, s.log)
		return nil
	})

	addr := net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.SecurePort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.listener = ln
	if err := s.serve(bgCtx, ln); err != nil {
		_ = ln.Close()
		return err
	}
	s.Go(bgCtx, func(ctx context.Context) error { s.bootstrap(ctx); return nil })
	s.log.Info("apiserver listening", zap.String("address", ln.Addr().String()), zap.String("admin-kubeconfig", s.cfg.AdminKubeconfig))
	return nil
}

// buildStores makes a watch cache and a generic store per kind.
func (s *Server) buildStores(transformers etcdstore.Transformers) *etcdstore.Store {
	store := etcdstore.New(s.etcd.Client, s.metrics.ObserveEtcd)
	store.SetTransformers(transformers)
	s.etcdStore = store
	s.caches = map[*apiresource.Descriptor]*watchcache.Cache{}
	s.stores = map[*apiresource.Descriptor]*genericstore.Store{}
	s.byResource = map[schema.GroupResource]*genericstore.Store{}
	for _, d := range s.registry.Stored() {
		s.caches[d] = watchcache.New(watchcache.Config{
			Client: s.etcd.Client, Prefix: d.KeyPrefix(), NewObject: d.NewStored, Convert: d.FromStorage, Attrs: d.Fields, Transformer: transformers.For(d.KeyPrefix()),
			Capacity: s.cfg.WatchCacheSize, BookmarkInterval: s.cfg.WatchBookmarkInterval,
			RequestProgress: s.etcd.Client.RequestProgress, Log: s.log.Named("watchcache"),
		})
	}
	nsDesc, _ := s.registry.Lookup("", "v1", "namespaces")
	nsStore := genericstore.New(genericstore.Options{Descriptor: nsDesc, Storage: store, Cache: s.caches[nsDesc], Log: s.log})
	lifecycle := &genericstore.NamespaceLifecycle{Namespaces: nsStore}
	s.namespaceLifecycle = lifecycle
	for _, d := range s.registry.Stored() {
		if d == nsDesc {
			s.stores[d], s.byResource[d.GroupResource()] = nsStore, nsStore
			continue
		}
		opts := genericstore.Options{Descriptor: d, Storage: store, Cache: s.caches[d], Log: s.log}
		if d.Namespaced {
			opts.Namespaces = lifecycle
		}
		if d.Group == "" && d.Resource == "services" {
			opts.Allocator = s.services
		}
		opts.Admitters = s.admitters(d)
		s.stores[d] = genericstore.New(opts)
		// A resource served at several versions (autoscaling/v2 and v1)
		// is found by its first, the version it is stored as.
		if _, ok := s.byResource[d.GroupResource()]; !ok {
			s.byResource[d.GroupResource()] = s.stores[d]
		}
	}
	return store
}

// serve writes the admin kubeconfig and serves HTTPS on ln in the
// background. Close first fails /readyz and closes the watches, then
// waits up to ShutdownTimeout for the requests in flight, and only then
// stops the caches the requests read.
func (s *Server) serve(bgCtx context.Context, ln net.Listener) error {
	scheme, err := apiresource.NewScheme()
	if err != nil {
		return err
	}
	s.api = endpoints.New(endpoints.Options{
		Registry: s.registry, Scheme: scheme, Store: s.storeFor, ServerAddress: s.hostPort(),
		MinRequestTimeout: s.cfg.MinRequestTimeout, Shutdown: s.shutdown,
		KubeletTransport: s.creds.kubeletTransport(s.kubeletCAs),
		ProxyLoopback:    s.cfg.ProxyLoopback,
		ProxyTransport:   s.cfg.ProxyTransport,
		AdmitEviction:    s.admitEviction,
		FieldManager:     s.fields.get,
		AdmitConnect:     s.admitConnect,
		AuthorizeVerb:    s.authorizeVerb,
		Evict:            s.evictor().Evict,
		Remote:           s.aggregation.remote,
		RemoteGroups:     s.aggregation.remoteGroups,
		LongRunning:      func(res string, d int) { s.metrics.LongRunning.WithLabelValues("WATCH", res).Add(float64(d)) },
		Log:              s.log,
	})
	s.http = &http.Server{
		Handler: s.engine(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{s.creds.serving.Cert.Raw}, PrivateKey: s.creds.serving.Key, Leaf: s.creds.serving.Cert}},
			ClientCAs:    s.creds.ca.CertPool(),
			// Asked for, verified by the authenticator: another CA's
			// certificate is a 401, as kube-apiserver answers it.
			ClientAuth: tls.RequestClientCert,
			MinVersion: tls.VersionTLS12,
		},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 1000},
		ErrorLog:          httpErrorLog(s.log),
	}
	if err := s.creds.writeAdminKubeconfig(s.cfg.AdminKubeconfig, s.URL()); err != nil {
		return fmt.Errorf("write %s: %w", s.cfg.AdminKubeconfig, err)
	}
	if err := s.creds.writeComponentKubeconfigs(filepath.Dir(s.cfg.AdminKubeconfig), s.URL()); err != nil {
		return fmt.Errorf("write the components' kubeconfigs: %w", err)
	}
	s.OnClosing(func(context.Context) error {
		close(s.shutdown)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		return s.http.Shutdown(ctx)
	})
	s.Go(bgCtx, func(context.Context) error {
		if err := s.http.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("https server stopped", zap.Error(err))
		}
		return nil
	})
	return nil
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
			ConfigMaps:      s.store("", "configmaps"),
			ServiceCIDRs:    s.store("networking.k8s.io", "servicecidrs"),
		}, bootstrap.Options{ServiceIP: s.services.FirstIP(), ServiceCIDR: s.cfg.ServiceClusterIPRange,
			AdvertiseIP: s.advertise.String(), Port: s.Port(), CACertPEM: s.creds.ca.CertPEM})
		if err == nil {
			err = s.reconcileRBAC(ctx)
		}
		if err == nil {
			err = s.ensureFlowControl(ctx)
		}
		s.mu.Lock()
		s.bootErr = err
		s.bootstrapped = err == nil
		s.mu.Unlock()
		if err == nil {
			s.MarkReady()
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

// storeFor returns the store serving d: a built-in kind's, or a custom
// resource's while its CRD serves it.
func (s *Server) storeFor(d *apiresource.Descriptor) *genericstore.Store {
	if st, ok := s.stores[d]; ok {
		return st
	}
	return s.custom.store(d)
}

func (s *Server) store(group, res string) *genericstore.Store {
	gr := schema.GroupResource{Group: group, Resource: res}
	if st, ok := s.byResource[gr]; ok {
		return st
	}
	panic(fmt.Sprintf("no store for %s", gr))
}

// cached is the watch cache's copy of an object, nil when the cache has
// none.
func (s *Server) cached(group, res, namespace, name string) runtime.Object {
	st := s.store(group, res)
	return st.Cache().Get(st.Descriptor().Key(namespace, name))
}

// lookup reads an object from the watch cache, or from etcd when the
// cache has none (not listed yet, or an object created a moment ago on
// this or another apiserver).
func (s *Server) lookup(ctx context.Context, group, res, namespace, name string) (runtime.Object, error) {
	if obj := s.cached(group, res, namespace, name); obj != nil {
		return obj, nil
	}
	return s.store(group, res).Get(ctx, namespace, name)
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
	select {
	case <-s.shutdown:
		return errors.New("shutting down")
	default:
		return nil
	}
}

func (s *Server) watcherCounts() map[string]int {
	out := map[string]int{}
	for d, c := range s.caches {
		out[d.String()] = c.WatcherCount()
	}
	return out
}

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

// Daemon is the apiserver binary's command line, for component.Main.
func Daemon() component.Daemon[Config] {
	return component.Daemon[Config]{Name: "apiserver", AddFlags: AddFlags, Defaults: DefaultConfig, Run: Run}
}

// Run builds an apiserver from cfg and serves until ctx ends (SIGTERM),
// then shuts down as the package comment says.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	cfg.Log = log
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return component.Run(ctx, s)
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
