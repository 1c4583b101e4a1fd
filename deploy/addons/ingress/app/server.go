// Package app is Coracle's Ingress controller as a library: New builds it
// from a Config; the Server is a component.Component (Start, Ready once
// the proxy serves the cluster's Ingresses, Done, Err, Close), and Run
// does all of that for the binary.
//
// Start starts, in order: the status server (/healthz, /readyz,
// /metrics), the proxy (Caddy, in this process), the event recorder, the
// informers and the controller. Close stops the controller and the
// informers, then the proxy, which waits up to --drain-timeout for the
// requests in flight, and the status server last.
package app

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"coracle.dev/addons/ingress/internal/class"
	"coracle.dev/addons/ingress/internal/controller"
	"coracle.dev/addons/ingress/internal/engine"
	"coracle.dev/addons/ingress/internal/proxyconfig"
	"coracle.dev/shared/apiclient"
	"coracle.dev/shared/component"
	"coracle.dev/shared/statusserver"
)

// EventSource is the component the controller's events name.
const EventSource = "coracle-ingress-controller"

// Server is the Ingress controller.
type Server struct {
	component.Lifecycle

	cfg         Config
	log         *zap.Logger
	clients     *apiclient.Clients
	factory     informers.SharedInformerFactory
	broadcaster record.EventBroadcaster
	status      *statusserver.Server
	controller  *controller.Controller
	proxy       *proxy
}

var _ component.Component = (*Server)(nil)

// New validates cfg and builds the controller; nothing runs yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	rc := cfg.RESTConfig
	if rc == nil && cfg.Kubeconfig == "" {
		var err error
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("--kubeconfig not given and not in a cluster: %w", err)
		}
	}
	clients, err := apiclient.New(apiclient.Options{
		Kubeconfig: cfg.Kubeconfig, RESTConfig: rc, UserAgent: "coracle-ingress",
		QPS: cfg.KubeAPIQPS, Burst: cfg.KubeAPIBurst,
	})
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, clients: clients,
		factory:     informers.NewSharedInformerFactory(clients.Client, 0),
		broadcaster: record.NewBroadcaster(),
		status:      statusserver.New(cfg.StatusAddress, log),
		proxy:       &proxy{},
	}
	s.controller, err = controller.New(controller.Config{
		Client:   clients.Client,
		Factory:  s.factory,
		Recorder: s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: EventSource}),
		Proxy:    s.proxy,
		Selector: class.Selector{Controller: cfg.ControllerName, ClassName: cfg.IngressClass},
		Options: proxyconfig.Options{
			HTTPAddress: cfg.HTTPAddress, HTTPSAddress: cfg.HTTPSAddress, StorageDir: cfg.DataDir,
			DrainTimeout: cfg.DrainTimeout, AccessLog: cfg.AccessLog,
			LogCore: engine.LogCore, ConnTracker: engine.ConnTracker,
		},
		PublishService: cfg.PublishService,
		SyncDelay:      cfg.SyncDelay,
		Registerer:     s.status.Registry(),
		Log:            log.Named("controller"),
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Daemon is the ingress binary's command line, for component.Main.
func Daemon() component.Daemon[Config] {
	return component.Daemon[Config]{Name: "ingress", AddFlags: AddFlags, Defaults: DefaultConfig, Run: Run}
}

// Run runs the controller with cfg until ctx ends (SIGTERM).
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

// Start brings the controller up in the background and returns once the
// status server listens and the proxy is taken. Ready closes once the
// proxy serves the cluster's Ingresses (the HTTP and HTTPS listeners are
// open then).
func (s *Server) Start(context.Context) error {
	return s.Lifecycle.Start(func(ctx context.Context) error {
		if err := s.ServeStatus(s.status, "proxy-configured", "proxy not configured yet"); err != nil {
			return fmt.Errorf("status server on %s: %w", s.cfg.StatusAddress, err)
		}
		if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		e, err := engine.New(s.log)
		if err != nil {
			return err
		}
		s.proxy.set(e)
		s.OnClose(func(context.Context) error {
			// Draining may take longer than a clean-up usually may.
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
			defer cancel()
			return e.Close(ctx)
		})
		s.OnClose(func(context.Context) error {
			s.factory.Shutdown()
			s.broadcaster.Shutdown()
			s.log.Info("ingress controller stopped")
			return nil
		})
		s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.clients.Events.CoreV1().Events("")})
		s.factory.Start(ctx.Done())
		s.log.Info("ingress controller starting", zap.String("http", s.cfg.HTTPAddress), zap.String("https", s.cfg.HTTPSAddress),
			zap.String("status", s.status.Addr()), zap.String("controller", s.cfg.ControllerName),
			zap.String("publishService", s.cfg.PublishService))
		s.Go(ctx, func(ctx context.Context) error { s.controller.Run(ctx); return nil })
		s.Go(ctx, func(ctx context.Context) error {
			select {
			case <-s.controller.Configured():
				s.MarkReady()
			case <-ctx.Done():
			}
			return nil
		})
		return nil
	})
}

// proxy hands the controller the engine once Start has taken it.
type proxy struct{ e *engine.Engine }

func (p *proxy) set(e *engine.Engine) { p.e = e }

func (p *proxy) Apply(cfg []byte) (bool, error) { return p.e.Apply(cfg) }
