// Package app is the Coracle scheduler as a library: New builds it from a
// Config, Start brings it up, Ready says when its informers have synced,
// Close shuts it down, and Run does all of that for the binary.
//
// Start starts, in order: the status server (/healthz, /readyz,
// /metrics), the informers (pods, nodes, namespaces, services,
// replicasets, statefulsets) and the event recorder; once the informers
// have synced, Ready closes and the scheduling loop runs — at once, or
// with --leader-elect only while this replica holds the Lease (a standby
// keeps its informers warm, so it takes over without relisting).
//
// Close stops, in order: the scheduling loop (bindings in flight finish or
// are cancelled), leader election (the Lease is released when the API
// can still be reached), the informers, the event recorder and the status
// server.
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
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/scheduler/internal/metrics"
	"coracle.dev/scheduler/internal/scheduler"
	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/leaderelection"
	"coracle.dev/shared/statusserver"
)

// Server is one scheduler replica.
type Server struct {
	cfg         Config
	log         *zap.Logger
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	broadcaster record.EventBroadcaster
	status      *statusserver.Server
	metrics     *metrics.Metrics
	sched       *scheduler.Scheduler

	ready chan struct{}
	done  chan struct{}

	mu      sync.Mutex // guards cancel, err, started, closed
	cancel  context.CancelFunc
	err     error
	started bool
	closed  bool
}

// New validates cfg and builds the scheduler; nothing runs yet.
func New(cfg Config) (*Server, error) {
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
	rc.UserAgent = "coracle-scheduler"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	// Events get a client (and a rate limit) of their own, as in
	// kube-scheduler, so that a burst of them never delays a binding.
	erc := rest.CopyConfig(rc)
	if cfg.EventQPS > 0 {
		erc.QPS = cfg.EventQPS
	}
	if cfg.EventBurst > 0 {
		erc.Burst = cfg.EventBurst
	}
	eventClient, err := kubernetes.NewForConfig(erc)
	if err != nil {
		return nil, fmt.Errorf("event client: %w", err)
	}
	factory := cfg.InformerFactory
	if factory == nil {
		factory = informers.NewSharedInformerFactory(client, 0)
	}
	s := &Server{
		cfg: cfg, log: log, client: client, factory: factory,
		status: statusserver.New(cfg.StatusAddress, log),
		ready:  make(chan struct{}), done: make(chan struct{}),
	}
	s.broadcaster = record.NewBroadcaster()
	s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: eventClient.CoreV1().Events("")})
	recorder := s.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: cfg.SchedulerName})

	var pending func() map[string]int
	s.metrics, err = metrics.New(s.status.Registry(), func() map[string]int { return pending() })
	if err != nil {
		s.broadcaster.Shutdown()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.sched, err = scheduler.New(scheduler.Config{
		Client: client, InformerFactory: factory, Recorder: recorder, Metrics: s.metrics, Log: log.Named("scheduler"),
		Clock: cfg.Clock, SchedulerName: cfg.SchedulerName, PercentageOfNodesToScore: int32(cfg.PercentageOfNodesToScore),
		Parallelism: cfg.Parallelism, BindConcurrency: cfg.MaxConcurrentBinds,
		PodInitialBackoff: cfg.PodInitialBackoff, PodMaxBackoff: cfg.PodMaxBackoff, Seed: cfg.Seed,
	})
	if err != nil {
		s.broadcaster.Shutdown()
		return nil, err
	}
	pending = s.sched.Pending
	s.status.AddReadyCheck("informers-synced", func(context.Context) error {
		select {
		case <-s.ready:
			return nil
		default:
			return errors.New("informers have not synced yet")
		}
	})
	return s, nil
}

// StatusAddress is where /healthz, /readyz and /metrics are served.
func (s *Server) StatusAddress() string { return s.status.Addr() }

// Client is the scheduler's API client.
func (s *Server) Client() kubernetes.Interface { return s.client }

// Start brings the scheduler up in the background and returns once the
// status server listens. The scheduler runs until Close; if it stops on
// its own (the Lease lost), Done closes and Err says why.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("scheduler already started")
	}
	if s.closed {
		return errors.New("scheduler closed")
	}
	s.started = true
	if err := s.status.Start(); err != nil {
		close(s.done)
		return fmt.Errorf("status server on %s: %w", s.cfg.StatusAddress, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.factory.Start(ctx.Done())
	s.log.Info("scheduler starting", zap.String("schedulerName", s.cfg.SchedulerName),
		zap.Bool("leaderElect", s.cfg.LeaderElect), zap.String("status", s.status.Addr()))
	go s.run(ctx)
	return nil
}

func (s *Server) run(ctx context.Context) {
	defer close(s.done)
	if !toolscache.WaitForCacheSync(ctx.Done(), s.sched.HasSynced) {
		return // closed before the informers synced
	}
	close(s.ready)
	s.log.Info("informers synced")
	if !s.cfg.LeaderElect {
		s.metrics.Leader.Set(1)
		s.sched.Run(ctx)
		s.metrics.Leader.Set(0)
		return
	}
	err := leaderelection.Run(ctx, leaderelection.Config{
		Client: s.client, Name: s.cfg.LeaderElectResourceName, Namespace: s.cfg.LeaderElectResourceNamespace,
		Identity: s.cfg.Identity, LeaseDuration: s.cfg.LeaderElectLeaseDuration,
		RenewDeadline: s.cfg.LeaderElectRenewDeadline, RetryPeriod: s.cfg.LeaderElectRetryPeriod,
		Log: s.log.Named("leaderelection"),
	}, func(leadCtx context.Context) {
		s.metrics.Leader.Set(1)
		defer s.metrics.Leader.Set(0)
		s.sched.Run(leadCtx)
	})
	if err != nil {
		s.setErr(fmt.Errorf("scheduler stopped: %w", err))
	}
}

func (s *Server) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// Ready closes once the informers have synced.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Done closes when the scheduler has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the scheduler stopped on its own, if it did.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops everything Start started and waits for it; it is safe to
// call more than once.
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
	s.log.Info("scheduler stopped")
	return nil
}

// Run starts the scheduler and blocks until ctx ends (SIGTERM) or the
// scheduler stops on its own; it returns nil on a clean stop and the
// reason otherwise (ErrLostLease when leadership was lost: the process
// exits, as Kubernetes' components do, and its supervisor restarts it).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	if err := s.Close(); err != nil {
		return err
	}
	return s.Err()
}
