// Package manager is the controller manager as a library: Options from
// flags, Validate, New; the Manager is a component.Component (Start,
// Ready, Done, Err, Close) and Run does all of that for the binary. It
// builds the shared informers and one client per controller, runs the
// enabled controllers (under leader election when asked) and serves
// /healthz, /readyz and /metrics. The informers read as the manager;
// each controller's clients talk as the manager too, or, with
// --use-service-account-credentials, as the controller's own
// ServiceAccount in kube-system (package clientbuilder).
//
// Lifecycle:
//
//	New ──► Start ──► [leader election] ──► controllers built, informers
//	                                         started, Ready closed
//	Close: cancel the controllers' context, wait for every worker, stop
//	the event broadcasters, release the lease, stop the status server.
package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	"coracle.dev/controller-manager/internal/clientbuilder"
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
//
// The shared informers read with the manager's own credentials
// (system:kube-controller-manager may list and watch everything); each
// controller's clients and event recorder use its credentials, which
// are the manager's too unless --use-service-account-credentials.
func (m *Manager) runControllers(ctx context.Context, rootCA []byte) error {
	base := rest.CopyConfig(m.rest)
	infClient, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(base), "shared-informers"))
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(infClient, 0)
	creds, err := m.credentials(ctx, base)
	if err != nil {
		return err
	}
	recorders := newRecorders(ctx)
	defer recorders.shutdown()

	settings := m.cfg.Settings
	settings.RootCA = rootCA
	serviceAccounts := ServiceAccounts()
	var runners []controller.Runner
	for _, name := range m.enabled {
		sa := serviceAccounts[name]
		cfg, err := m.controllerConfig(ctx, creds, name, sa)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		cc := rest.AddUserAgent(cfg, "controller-manager/"+name)
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
		identity := ""
		if m.cfg.UseServiceAccountCredentials {
			identity = sa
		}
		recorder, err := recorders.recorder(identity, cfg, name)
		if err != nil {
			return err
		}
		cctx := controller.Context{
			Name: name, Client: client, Dynamic: dyn, Metadata: md, Discovery: disc,
			Informers: factory,
			Recorder:  recorder,
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
		m.log.Info("controllers running", zap.Strings("controllers", m.enabled),
			zap.Bool("serviceAccountCredentials", m.cfg.UseServiceAccountCredentials))
	}
	<-ctx.Done()
	wg.Wait()
	factory.Shutdown()
	return nil
}

// credentials is where the controllers' credentials come from: the
// manager's own, or with --use-service-account-credentials their
// ServiceAccounts', whose tokens the manager asks for with its own.
func (m *Manager) credentials(ctx context.Context, base *rest.Config) (clientbuilder.Builder, error) {
	if !m.cfg.UseServiceAccountCredentials {
		return clientbuilder.Root(base), nil
	}
	tokens, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(base), "controller-credentials"))
	if err != nil {
		return nil, err
	}
	// The real clock, not the controllers': client-go's token cache
	// judges a token's renewal time by it.
	return clientbuilder.NewServiceAccounts(ctx, base, tokens.CoreV1(), clientbuilder.Options{
		Namespace: metav1.NamespaceSystem, Log: m.log.Named("credentials"),
	}), nil
}

// Bounds of the back-off between attempts at a controller's
// credentials.
const (
	credentialsRetryMin = 500 * time.Millisecond
	credentialsRetryMax = 30 * time.Second
)

// controllerConfig returns the REST configuration of controller name,
// whose ServiceAccount is sa. Making sure the ServiceAccount exists
// takes the apiserver: one that is not up yet, or not yet serving its
// bootstrap policy, is waited for, with back-off, until ctx ends.
func (m *Manager) controllerConfig(ctx context.Context, creds clientbuilder.Builder, name, sa string) (*rest.Config, error) {
	delay := credentialsRetryMin
	for {
		cfg, err := creds.Config(ctx, sa)
		if err == nil {
			return cfg, nil
		}
		m.log.Warn("no credentials for a controller yet; retrying", zap.String("controller", name),
			zap.String("serviceAccount", sa), zap.Duration("in", delay), zap.Error(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, credentialsRetryMax)
	}
}

// recorders are the controllers' event recorders: one broadcaster per
// identity, which writes the events of every controller of that
// identity through a client of its own, as Kubernetes' controllers each
// write their events with their own client. Without per-controller
// credentials there is one identity, the manager's.
type recorders struct {
	ctx          context.Context
	broadcasters map[string]record.EventBroadcaster // by identity; only runControllers' goroutine uses it
}

func newRecorders(ctx context.Context) *recorders {
	return &recorders{ctx: ctx, broadcasters: map[string]record.EventBroadcaster{}}
}

// recorder returns a recorder of events from controller name, written
// with cfg, the configuration of identity.
func (r *recorders) recorder(identity string, cfg *rest.Config, name string) (record.EventRecorder, error) {
	b, ok := r.broadcasters[identity]
	if !ok {
		// A client of its own, rate-limited apart from the controllers'
		// clients: a burst of events never delays their work.
		events, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(cfg), "events"))
		if err != nil {
			return nil, err
		}
		b = record.NewBroadcaster(record.WithContext(r.ctx))
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
		r.broadcasters[identity] = b
	}
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: name}), nil
}

// shutdown stops every broadcaster.
func (r *recorders) shutdown() {
	for _, b := range r.broadcasters {
		b.Shutdown()
	}
}
