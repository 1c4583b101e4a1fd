// Package manager is the controller manager as a library: Options from
// flags, Validate, New, then Run(ctx), or Start / Ready / Close for tests
// and for running it in-process. It builds the shared informers and one
// client per controller, runs the enabled controllers (under leader
// election when asked) and serves /healthz, /readyz and /metrics.
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
	"time"

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

	"coracle.dev/shared/kubeconfig"
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
	// Tuning for tests: zero values mean the production defaults.
	PodGCPeriod    time.Duration
	JobBackoffBase time.Duration
	JobBackoffMax  time.Duration
	GCResyncPeriod time.Duration
}

// Manager is a controller manager.
type Manager struct {
	cfg         Config
	log         *zap.Logger
	rest        *rest.Config
	enabled     []string
	status      *statusserver.Server
	metrics     *metrics.Metrics
	broadcaster record.EventBroadcaster

	ready     chan struct{}
	readyOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	runErr    error // set before done is closed
	closeOnce sync.Once
}

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
	rc := cfg.RESTConfig
	if rc == nil {
		var err error
		if rc, err = kubeconfig.RESTConfig(cfg.Kubeconfig); err != nil {
			return nil, err
		}
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = cfg.KubeAPIQPS, cfg.KubeAPIBurst
	status := statusserver.New(cfg.StatusAddress, cfg.Log)
	return &Manager{
		cfg: cfg, log: cfg.Log, rest: rc, enabled: enabled, status: status,
		metrics: metrics.New(status.Registry()),
		ready:   make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Start serves the status endpoint and starts the controllers in the
// background (once elected, with --leader-elect).
func (m *Manager) Start(ctx context.Context) error {
	rootCA, err := m.rootCA()
	if err != nil {
		return err
	}
	m.status.AddReadyCheck("controllers", func(context.Context) error {
		select {
		case <-m.ready:
			return nil
		default:
			if m.cfg.LeaderElect {
				return errors.New("not leading (or caches not synced)")
			}
			return errors.New("caches not synced")
		}
	})
	if err := m.status.Start(); err != nil {
		return fmt.Errorf("status server: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	m.cancel = cancel
	go func() {
		defer close(m.done)
		if !m.cfg.LeaderElect {
			m.runErr = m.runControllers(runCtx, rootCA)
			return
		}
		client, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(m.rest), "leader-election"))
		if err != nil {
			m.runErr = err
			return
		}
		var workErr error
		m.runErr = leaderelection.Run(runCtx, leaderelection.Config{
			Client: client, Name: LeaseName, Identity: m.cfg.Identity,
			LeaseDuration: m.cfg.LeaderElectLeaseDuration,
			RenewDeadline: m.cfg.LeaderElectRenewDeadline,
			RetryPeriod:   m.cfg.LeaderElectRetryPeriod,
			Log:           m.log,
		}, func(leadCtx context.Context) {
			workErr = m.runControllers(leadCtx, rootCA)
		})
		if m.runErr == nil {
			m.runErr = workErr
		}
	}()
	return nil
}

// Ready is closed once the controllers run with synced caches.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Done is closed when the manager stopped: Close was called, its context
// ended, or it lost its lease.
func (m *Manager) Done() <-chan struct{} { return m.done }

// Err is why the manager stopped, after Done: nil for a normal stop,
// ErrLostLease when leadership was lost.
func (m *Manager) Err() error {
	<-m.done
	return m.runErr
}

// StatusAddr is the address /healthz, /readyz and /metrics listen on.
func (m *Manager) StatusAddr() string { return m.status.Addr() }

// Close stops every controller and waits for their workers, stops the
// event broadcaster (after flushing what it can), releases the lease if
// held, and stops the status server.
func (m *Manager) Close() error {
	var err error
	m.closeOnce.Do(func() {
		if m.cancel != nil {
			m.cancel()
			<-m.done
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = m.status.Close(ctx)
	})
	return err
}

// Run starts the manager and blocks until ctx ends or leadership is lost.
func Run(ctx context.Context, cfg Config) error {
	m, err := New(cfg)
	if err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	m.log.Info("controller manager started", zap.Strings("controllers", m.enabled), zap.String("status", m.StatusAddr()), zap.Bool("leaderElect", cfg.LeaderElect))
	select {
	case <-ctx.Done():
	case <-m.done:
	}
	closeErr := m.Close()
	if err := m.Err(); err != nil {
		return err
	}
	return closeErr
}

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

	settings := controller.Settings{
		ClusterCIDR:              m.cfg.ClusterCIDR,
		NodeCIDRMaskSize:         m.cfg.NodeCIDRMaskSize,
		NodeMonitorPeriod:        m.cfg.NodeMonitorPeriod,
		NodeMonitorGracePeriod:   m.cfg.NodeMonitorGracePeriod,
		RootCA:                   rootCA,
		TerminatedPodGCThreshold: m.cfg.TerminatedPodGCThreshold,
		PodGCPeriod:              m.cfg.PodGCPeriod,
		JobBackoffBase:           m.cfg.JobBackoffBase,
		JobBackoffMax:            m.cfg.JobBackoffMax,
		GCResyncPeriod:           m.cfg.GCResyncPeriod,
	}
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
		m.readyOnce.Do(func() { close(m.ready) })
		m.log.Info("controllers running", zap.Strings("controllers", m.enabled))
	}
	<-ctx.Done()
	wg.Wait()
	factory.Shutdown()
	return nil
}
