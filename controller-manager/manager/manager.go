// Package manager is the controller manager as a library: Options from
// flags, Validate, New; the Manager is a component.Component (Start,
// Ready, Done, Err, Close) and Run does all of that for the binary. It
// builds the shared informers and one client per controller, runs the
// enabled controllers (under leader election when asked) and serves
// /healthz, /readyz and /metrics.
//
// Lifecycle:
//
//	New ──► Start ──► [leader election] ──► controllers built, informers
//	                                         started, Ready closed
//	Close: cancel the controllers' context, wait for every worker, stop
//	the event broadcaster, release the lease, stop the status server.
package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/shared/apiclient"
	"coracle.dev/shared/component"
	"coracle.dev/shared/leaderelection"
	"coracle.dev/shared/statusserver"

	"coracle.dev/controller-manager/internal/controller"
	"coracle.dev/controller-manager/internal/metrics"
)

// LeaseName is the Lease in kube-system the replicas elect a leader on.
const LeaseName = "kube-controller-manager"

// ErrLostLease is returned by Run when leadership was lost: the process
// must exit and start again, as kube-controller-manager does.
var ErrLostLease = leaderelection.ErrLostLease

// Config is what New needs: the options plus what only code can give.
type Config struct {
	Options
	// RESTConfig, if set, is used instead of loading Options.Kubeconfig.
	RESTConfig *rest.Config
	// Log is the logger; nil means no logs.
	Log *zap.Logger
	// Clock drives every controller's idea of now; nil means the real one.
	Clock clock.WithTicker
	// Identity is this replica's name in leader election; "" means
	// hostname plus a unique suffix.
	Identity string
}

// Manager is a controller manager.
type Manager struct {
	component.Lifecycle

	cfg     Config
	log     *zap.Logger
	rest    *rest.Config
	enabled []string
	status  *statusserver.Server
	metrics *metrics.Metrics
}

var _ component.Component = (*Manager)(nil)

// New checks cfg and prepares a manager; nothing runs until Start.
func New(cfg Config) (*Manager, error) {
	if cfg.RESTConfig != nil && cfg.Kubeconfig == "" {
		cfg.Kubeconfig = "(in-process)"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enabled, _ := cfg.EnabledControllers()
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	clients, err := apiclient.New(apiclient.Options{
		Kubeconfig: cfg.Kubeconfig, RESTConfig: cfg.RESTConfig, QPS: cfg.KubeAPIQPS, Burst: cfg.KubeAPIBurst,
	})
	if err != nil {
		return nil, err
	}
	status := statusserver.New(cfg.StatusAddress, cfg.Log)
	return &Manager{
		cfg: cfg, log: cfg.Log, rest: clients.REST, enabled: enabled, status: status,
		metrics: metrics.New(status.Registry()),
	}, nil
}

// Daemon is the controller-manager binary's command line, for
// component.Main.
func Daemon() component.Daemon[Options] {
	return component.Daemon[Options]{
		Name: "controller-manager",
		AddFlags: func(fs *pflag.FlagSet) {
			o := DefaultOptions()
			o.AddFlags(fs)
		},
		Defaults: DefaultOptions,
		Run: func(ctx context.Context, o Options, log *zap.Logger) error {
			err := Run(ctx, Config{Options: o, Log: log})
			if errors.Is(err, ErrLostLease) {
				log.Error("lost the leader lease; exiting")
			}
			return err
		},
	}
}

// Run starts the manager and blocks until ctx ends or leadership is lost
// (ErrLostLease).
func Run(ctx context.Context, cfg Config) error {
	m, err := New(cfg)
	if err != nil {
		return err
	}
	return component.Run(ctx, m)
}

// Start serves the status endpoint and starts the controllers in the
// background (once elected, with --leader-elect); ctx bounds the start
// only.
func (m *Manager) Start(context.Context) error {
	return m.Lifecycle.Start(func(ctx context.Context) error {
		rootCA, err := m.rootCA()
		if err != nil {
			return err
		}
		notReady := "caches not synced"
		if m.cfg.LeaderElect {
			notReady = "not leading (or caches not synced)"
		}
		if err := m.ServeStatus(m.status, "controllers", notReady); err != nil {
			return fmt.Errorf("status server: %w", err)
		}
		m.Go(ctx, func(ctx context.Context) error { return m.run(ctx, rootCA) })
		m.log.Info("controller manager started", zap.Strings("controllers", m.enabled),
			zap.String("status", m.StatusAddress()), zap.Bool("leaderElect", m.cfg.LeaderElect))
		return nil
	})
}

// run runs the controllers, at once or while this replica leads; it
// returns ErrLostLease when leadership is lost.
func (m *Manager) run(ctx context.Context, rootCA []byte) error {
	if !m.cfg.LeaderElect {
		return m.runControllers(ctx, rootCA)
	}
	client, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(m.rest), "leader-election"))
	if err != nil {
		return err
	}
	var workErr error
	err = leaderelection.Run(ctx, leaderelection.Config{
		Client: client, Name: LeaseName, Identity: m.cfg.Identity,
		LeaseDuration: m.cfg.LeaderElectLeaseDuration,
		RenewDeadline: m.cfg.LeaderElectRenewDeadline,
		RetryPeriod:   m.cfg.LeaderElectRetryPeriod,
		Log:           m.log,
	}, func(leadCtx context.Context) {
		workErr = m.runControllers(leadCtx, rootCA)
	})
	if err != nil {
		return err
	}
	return workErr
}

// StatusAddress is the address /healthz, /readyz and /metrics listen on.
func (m *Manager) StatusAddress() string { return m.status.Addr() }

// rootCA is the CA the root CA publisher writes: --root-ca-file, else
// the kubeconfig's certificate authority.
func (m *Manager) rootCA() ([]byte, error) {
	if m.cfg.RootCAFile != "" {
		b, err := os.ReadFile(m.cfg.RootCAFile)
		if err != nil {
			return nil, fmt.Errorf("--root-ca-file: %w", err)
		}
		return b, nil
	}
	if len(m.rest.TLSClientConfig.CAData) > 0 {
		return m.rest.TLSClientConfig.CAData, nil
	}
	if f := m.rest.TLSClientConfig.CAFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig certificate-authority: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// runControllers builds the enabled controllers, starts the informers
// and runs the controllers until ctx ends.
func (m *Manager) runControllers(ctx context.Context, rootCA []byte) error {
	base := rest.CopyConfig(m.rest)
	infClient, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(base), "shared-informers"))
	if err != nil {
		return err
	}
	eventClient, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(base), "events"))
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(infClient, 0)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: eventClient.CoreV1().Events("")})
	defer broadcaster.Shutdown()

	settings := m.cfg.Settings
	settings.RootCA = rootCA
	var runners []controller.Runner
	for _, name := range m.enabled {
		cc := rest.AddUserAgent(rest.CopyConfig(base), "controller-manager/"+name)
		client, err := kubernetes.NewForConfig(cc)
		if err != nil {
			return err
		}
		dyn, err := dynamic.NewForConfig(cc)
		if err != nil {
			return err
		}
		md, err := metadata.NewForConfig(cc)
		if err != nil {
			return err
		}
		disc, err := discovery.NewDiscoveryClientForConfig(cc)
		if err != nil {
			return err
		}
		cctx := controller.Context{
			Name: name, Client: client, Dynamic: dyn, Metadata: md, Discovery: disc,
			Informers: factory,
			Recorder:  broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: name}),
			Log:       m.log.Named(name), Clock: m.cfg.Clock, Metrics: m.metrics,
			Workers: m.cfg.ConcurrentSyncs, Settings: settings,
		}
		r, err := build(name, cctx)
		if err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
		if r != nil {
			runners = append(runners, r)
		}
	}
	factory.Start(ctx.Done())

	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx)
		}()
	}
	for t, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			m.log.Warn("informer did not sync", zap.String("type", t.String()))
		}
	}
	if ctx.Err() == nil {
		m.MarkReady()
		m.log.Info("controllers running", zap.Strings("controllers", m.enabled))
	}
	<-ctx.Done()
	wg.Wait()
	factory.Shutdown()
	return nil
}
