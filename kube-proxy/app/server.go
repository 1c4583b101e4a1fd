// Package app is Coracle's kube-proxy as a library: New builds it from a
// Config; the Server is a component.Component (Start, Ready once the
// first rules are written, Done, Err, Close), and Run does all of that
// for the binary. Cleanup is --cleanup.
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
	"fmt"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kube-proxy/internal/iptables"
	"coracle.dev/kube-proxy/internal/metrics"
	"coracle.dev/kube-proxy/internal/proxier"
	"coracle.dev/kube-proxy/internal/servicelb"
	"coracle.dev/shared/apiclient"
	"coracle.dev/shared/component"
	"coracle.dev/shared/statusserver"
)

// Server is one node's kube-proxy.
type Server struct {
	component.Lifecycle

	cfg         Config
	log         *zap.Logger
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	broadcaster record.EventBroadcaster
	status      *statusserver.Server
	proxier     *proxier.Proxier
	lb          *servicelb.Controller
}

var _ component.Component = (*Server)(nil)

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
	clients, err := apiclient.New(apiclient.Options{
		Kubeconfig: cfg.Kubeconfig, RESTConfig: cfg.RESTConfig, UserAgent: "coracle-kube-proxy",
		QPS: cfg.KubeAPIQPS, Burst: cfg.KubeAPIBurst,
	})
	if err != nil {
		return nil, err
	}
	runner, err := iptables.New()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, client: clients.Client,
		factory: informers.NewSharedInformerFactory(clients.Client, 0),
		status:  statusserver.New(cfg.MetricsBindAddress, log),
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
	if s.lb, err = servicelb.New(clients.Client, s.factory, cfg.NodeName, cfg.BindAddress, log.Named("servicelb")); err != nil {
		return nil, err
	}
	return s, nil
}

// Daemon is the kube-proxy binary's command line, for component.Main.
func Daemon() component.Daemon[Config] {
	return component.Daemon[Config]{Name: "kube-proxy", AddFlags: AddFlags, Defaults: DefaultConfig, Run: Run}
}

// Run runs kube-proxy with cfg until ctx ends (SIGTERM); with --cleanup
// it removes kube-proxy's rules instead and returns.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	cfg.Log = log
	if cfg.Cleanup {
		if err := Cleanup(ctx, cfg); err != nil {
			return err
		}
		log.Info("kube-proxy rules removed")
		return nil
	}
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return component.Run(ctx, s)
}

// StatusAddress is where /healthz, /readyz and /metrics are served.
func (s *Server) StatusAddress() string { return s.status.Addr() }

// Start brings kube-proxy up in the background and returns once the
// status server listens. Ready closes once the first rules are written.
// Close stops everything Start started; the rules stay.
func (s *Server) Start(context.Context) error {
	return s.Lifecycle.Start(func(ctx context.Context) error {
		if err := s.ServeStatus(s.status, "rules-synced", "rules not written yet"); err != nil {
			return fmt.Errorf("status server on %s: %w", s.cfg.MetricsBindAddress, err)
		}
		s.OnClose(func(context.Context) error {
			s.factory.Shutdown()
			s.broadcaster.Shutdown()
			s.log.Info("kube-proxy stopped")
			return nil
		})
		if err := proxier.EnableRouteLocalnet(); err != nil {
			s.log.Warn("node ports will not answer on 127.0.0.1", zap.Error(err))
		}
		s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
		s.factory.Start(ctx.Done())
		s.log.Info("kube-proxy starting", zap.String("node", s.cfg.NodeName), zap.String("mode", ModeIPTables),
			zap.String("clusterCIDR", s.cfg.ClusterCIDR), zap.String("status", s.status.Addr()))
		s.Go(ctx, func(ctx context.Context) error { s.proxier.Run(ctx); return nil })
		s.Go(ctx, func(ctx context.Context) error { s.lb.Run(ctx); return nil })
		s.Go(ctx, s.waitFirstSync)
		return nil
	})
}

// waitFirstSync marks kube-proxy ready once the proxier has written the
// rules once.
func (s *Server) waitFirstSync(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.proxier.LastSync().IsZero() {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	s.MarkReady()
	return nil
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
