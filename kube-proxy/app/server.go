// Package app is Coracle's kube-proxy as a library: New builds it from a
// Config, Start brings it up, Ready says when the first rules are
// written, Close shuts it down, and Run does all of that for the binary.
// Cleanup is --cleanup.
//
// Start starts, in order: the status server (/healthz, /readyz,
// /metrics), the informers (services, endpointslices, nodes), the event
// recorder, the proxier's sync loop and the load-balancer status
// controller. Close stops them in the reverse order. The rules stay in
// the kernel when kube-proxy stops, so traffic keeps flowing while it
// restarts; a new kube-proxy rewrites them to the same rules.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kube-proxy/internal/iptables"
	"coracle.dev/kube-proxy/internal/metrics"
	"coracle.dev/kube-proxy/internal/proxier"
	"coracle.dev/kube-proxy/internal/servicelb"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/statusserver"
)

// Server is one node's kube-proxy.
type Server struct {
	cfg         Config
	log         *zap.Logger
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	broadcaster record.EventBroadcaster
	status      *statusserver.Server
	proxier     *proxier.Proxier
	lb          *servicelb.Controller

	ready chan struct{}
	done  chan struct{}

	mu      sync.Mutex // guards cancel, started, closed
	cancel  context.CancelFunc
	started bool
	closed  bool
}

// New validates cfg and builds kube-proxy; nothing runs yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Complete(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	rc := cfg.RESTConfig
	if rc == nil {
		var err error
		if rc, err = kubeconfig.RESTConfig(cfg.Kubeconfig); err != nil {
			return nil, err
		}
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = cfg.KubeAPIQPS, cfg.KubeAPIBurst
	rc.UserAgent = "coracle-kube-proxy"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	runner, err := iptables.New()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, client: client,
		factory: informers.NewSharedInformerFactory(client, 0),
		status:  statusserver.New(cfg.MetricsBindAddress, log),
		ready:   make(chan struct{}), done: make(chan struct{}),
	}
	m, err := metrics.New(s.status.Registry())
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.broadcaster = record.NewBroadcaster()
	recorder := s.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kube-proxy", Host: cfg.NodeName})
	s.proxier, err = proxier.New(proxier.Config{
		Factory: s.factory, Runner: runner, Recorder: recorder, Metrics: m, Log: log.Named("proxier"),
		NodeName: cfg.NodeName, ClusterCIDR: cfg.ClusterCIDR,
		MinSyncPeriod: cfg.MinSyncPeriod, SyncPeriod: cfg.SyncPeriod,
	})
	if err != nil {
		return nil, err
	}
	if s.lb, err = servicelb.New(client, s.factory, cfg.NodeName, cfg.BindAddress, log.Named("servicelb")); err != nil {
		return nil, err
	}
	s.status.AddReadyCheck("rules-synced", func(context.Context) error {
		if s.proxier.LastSync().IsZero() {
			return errors.New("rules not written yet")
		}
		return nil
	})
	return s, nil
}

// StatusAddress is where /healthz, /readyz and /metrics are served.
func (s *Server) StatusAddress() string { return s.status.Addr() }

// Start brings kube-proxy up in the background and returns once the
// status server listens.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("kube-proxy already started or closed")
	}
	s.started = true
	if err := s.status.Start(); err != nil {
		close(s.done)
		return fmt.Errorf("status server on %s: %w", s.cfg.MetricsBindAddress, err)
	}
	if err := proxier.EnableRouteLocalnet(); err != nil {
		s.log.Warn("node ports will not answer on 127.0.0.1", zap.Error(err))
	}
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.factory.Start(ctx.Done())
	s.log.Info("kube-proxy starting", zap.String("node", s.cfg.NodeName), zap.String("mode", ModeIPTables),
		zap.String("clusterCIDR", s.cfg.ClusterCIDR), zap.String("status", s.status.Addr()))
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.proxier.Run(ctx) }()
	go func() { defer wg.Done(); s.lb.Run(ctx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for s.proxier.LastSync().IsZero() {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		close(s.ready)
	}()
	go func() { wg.Wait(); close(s.done) }()
	return nil
}

// Ready closes once the first rules are written.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Close stops everything Start started and waits for it; the rules stay.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel, started := s.cancel, s.started
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if started {
		<-s.done
	}
	s.factory.Shutdown()
	s.broadcaster.Shutdown()
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := s.status.Close(ctx); err != nil {
		return fmt.Errorf("status server: %w", err)
	}
	s.log.Info("kube-proxy stopped")
	return nil
}

// Run starts kube-proxy and blocks until ctx ends (SIGTERM).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	return s.Close()
}

// Cleanup removes every chain and rule kube-proxy made (--cleanup).
func Cleanup(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	runner, err := iptables.New()
	if err != nil {
		return err
	}
	return runner.Cleanup(ctx)
}
