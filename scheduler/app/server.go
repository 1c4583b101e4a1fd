// Package app is the Coracle scheduler as a library: New builds it from a
// Config; the Server is a component.Component (Start, Ready once its
// informers have synced, Done, Err, Close), and Run does all of that for
// the binary.
//
// Start starts, in order: the status server (/healthz, /readyz,
// /metrics), the informers (pods, nodes, namespaces, services,
// replicasets, statefulsets, persistentvolumeclaims, persistentvolumes,
// storageclasses) and the event recorder; once the informers
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
	"fmt"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/scheduler/internal/metrics"
	"coracle.dev/scheduler/internal/plugins"
	"coracle.dev/scheduler/internal/plugins/volumebinding"
	"coracle.dev/scheduler/internal/scheduler"
	"coracle.dev/shared/apiclient"
	"coracle.dev/shared/component"
	"coracle.dev/shared/leaderelection"
	"coracle.dev/shared/statusserver"
)

// Server is one scheduler replica.
type Server struct {
	component.Lifecycle

	cfg         Config
	log         *zap.Logger
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	broadcaster record.EventBroadcaster
	status      *statusserver.Server
	metrics     *metrics.Metrics
	sched       *scheduler.Scheduler
}

var _ component.Component = (*Server)(nil)

// New validates cfg and builds the scheduler; nothing runs yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	clients, err := apiclient.New(apiclient.Options{
		Kubeconfig: cfg.Kubeconfig, RESTConfig: cfg.RESTConfig, UserAgent: "coracle-scheduler",
		QPS: cfg.KubeAPIQPS, Burst: cfg.KubeAPIBurst, EventQPS: cfg.EventQPS, EventBurst: cfg.EventBurst,
	})
	if err != nil {
		return nil, err
	}
	factory := cfg.InformerFactory
	if factory == nil {
		factory = informers.NewSharedInformerFactory(clients.Client, 0)
	}
	s := &Server{
		cfg: cfg, log: log, client: clients.Client, factory: factory,
		status: statusserver.New(cfg.StatusAddress, log),
	}
	var pending func() map[string]int
	s.metrics, err = metrics.New(s.status.Registry(), func() map[string]int { return pending() })
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.broadcaster = clients.Broadcaster()
	recorder := s.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: cfg.SchedulerName})
	s.sched, err = scheduler.New(scheduler.Config{
		Client: clients.Client, InformerFactory: factory, Recorder: recorder, Metrics: s.metrics, Log: log.Named("scheduler"),
		Clock: cfg.Clock, SchedulerName: cfg.SchedulerName, PercentageOfNodesToScore: int32(cfg.PercentageOfNodesToScore),
		Parallelism: cfg.Parallelism, BindConcurrency: cfg.MaxConcurrentBinds,
		PodInitialBackoff: cfg.PodInitialBackoff, PodMaxBackoff: cfg.PodMaxBackoff, Seed: cfg.Seed,
		PluginArgs: plugins.Args{VolumeBinding: volumebinding.Args{BindTimeoutSeconds: int64(cfg.VolumeBindingTimeoutSeconds)}},
	})
	if err != nil {
		s.broadcaster.Shutdown()
		return nil, err
	}
	pending = s.sched.Pending
	return s, nil
}

// Daemon is the scheduler binary's command line, for component.Main.
func Daemon() component.Daemon[Config] {
	return component.Daemon[Config]{Name: "scheduler", AddFlags: AddFlags, Defaults: DefaultConfig, Run: Run}
}

// Run builds a scheduler from cfg and runs it until ctx ends (SIGTERM)
// or it stops on its own (ErrLostLease when leadership was lost: the
// process exits, as Kubernetes' components do, and its supervisor
// restarts it).
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	cfg.Log = log
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return component.Run(ctx, s)
}

// StatusAddress is where /healthz, /readyz and /metrics are served.
func (s *Server) StatusAddress() string { return s.status.Addr() }

// Client is the scheduler's API client.
func (s *Server) Client() kubernetes.Interface { return s.client }

// Start brings the scheduler up in the background and returns once the
// status server listens; see the package comment for what runs.
func (s *Server) Start(context.Context) error {
	return s.Lifecycle.Start(func(ctx context.Context) error {
		if err := s.ServeStatus(s.status, "informers-synced", "informers have not synced yet"); err != nil {
			return fmt.Errorf("status server on %s: %w", s.cfg.StatusAddress, err)
		}
		s.OnClose(func(context.Context) error {
			s.factory.Shutdown()
			s.broadcaster.Shutdown()
			s.log.Info("scheduler stopped")
			return nil
		})
		s.factory.Start(ctx.Done())
		s.log.Info("scheduler starting", zap.String("schedulerName", s.cfg.SchedulerName),
			zap.Bool("leaderElect", s.cfg.LeaderElect), zap.String("status", s.status.Addr()))
		s.Go(ctx, s.run)
		return nil
	})
}

func (s *Server) run(ctx context.Context) error {
	if !toolscache.WaitForCacheSync(ctx.Done(), s.sched.HasSynced) {
		return nil // closed before the informers synced
	}
	s.MarkReady()
	s.log.Info("informers synced")
	if !s.cfg.LeaderElect {
		s.metrics.Leader.Set(1)
		s.sched.Run(ctx)
		s.metrics.Leader.Set(0)
		return nil
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
		return fmt.Errorf("scheduler stopped: %w", err)
	}
	return nil
}
