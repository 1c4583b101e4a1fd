// Package app is the local-path provisioner as a library: New builds it
// from a Config; the Server is a component.Component (Start, Ready once
// its caches have synced and it works, Done, Err, Close), and Run does
// all of that for the binary.
//
// Start starts, in order: the status server (/healthz, /readyz,
// /metrics), the event recorder, the informers and the controller. Close
// stops the controller (a helper pod being waited for is left; the next
// start takes it over), the informers and the recorder, and the status
// server last.
package app

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"coracle.dev/addons/local-path/internal/controller"
	"coracle.dev/addons/local-path/internal/helperpod"
	"coracle.dev/shared/apiclient"
	"coracle.dev/shared/component"
	"coracle.dev/shared/statusserver"
)

// EventSource is the component the provisioner's events name: the
// provisioner itself, as the library's recorder names it.
const EventSource = "rancher.io/local-path_local-path-provisioner"

// Server is the provisioner.
type Server struct {
	component.Lifecycle

	cfg         Config
	log         *zap.Logger
	factories   []informers.SharedInformerFactory
	broadcaster record.EventBroadcaster
	status      *statusserver.Server
	controller  *controller.Controller
}

var _ component.Component = (*Server)(nil)

// New validates cfg and builds the provisioner; nothing runs yet.
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
		Kubeconfig: cfg.Kubeconfig, RESTConfig: rc, UserAgent: "coracle-local-path-provisioner",
		QPS: cfg.KubeAPIQPS, Burst: cfg.KubeAPIBurst,
	})
	if err != nil {
		return nil, err
	}
	cluster := informers.NewSharedInformerFactory(clients.Client, 0)
	helpers := informers.NewSharedInformerFactoryWithOptions(clients.Client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.SelectorFromSet(labels.Set{helperpod.LabelKey: helperpod.LabelValue}).String()
		}))
	configMaps := informers.NewSharedInformerFactoryWithOptions(clients.Client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.ConfigMapName).String()
		}))
	s := &Server{
		cfg: cfg, log: log,
		factories:   []informers.SharedInformerFactory{cluster, helpers, configMaps},
		broadcaster: clients.Broadcaster(),
		status:      statusserver.New(cfg.StatusAddress, log),
	}
	s.controller, err = controller.New(controller.Config{
		Client:      clients.Client,
		Factory:     cluster,
		Helpers:     helpers,
		ConfigMaps:  configMaps,
		Recorder:    s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: EventSource}),
		Provisioner: cfg.ProvisionerName,
		Namespace:   cfg.Namespace,
		ConfigMap:   cfg.ConfigMapName,
		Helper: helperpod.Template{
			Namespace: cfg.Namespace, Image: cfg.HelperImage, Command: cfg.HelperCommand, ServiceAccount: cfg.ServiceAccount,
		},
		Workers:   cfg.Workers,
		RetryBase: cfg.RetryBase,
		RetryMax:  cfg.RetryMax,
		Log:       log.Named("controller"),
	})
	if err != nil {
		s.broadcaster.Shutdown()
		return nil, err
	}
	return s, nil
}

// Daemon is the local-path binary's command line, for component.Main.
func Daemon() component.Daemon[Config] {
	return component.Daemon[Config]{Name: "local-path", AddFlags: AddFlags, Defaults: DefaultConfig, Run: Run}
}

// Run runs the provisioner with cfg until ctx ends (SIGTERM).
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

// Start brings the provisioner up in the background and returns once the
// status server listens. Ready closes once the caches have synced and
// the workers run.
func (s *Server) Start(context.Context) error {
	return s.Lifecycle.Start(func(ctx context.Context) error {
		if err := s.ServeStatus(s.status, "caches-synced", "caches not synced yet"); err != nil {
			return fmt.Errorf("status server on %s: %w", s.cfg.StatusAddress, err)
		}
		s.OnClose(func(context.Context) error {
			for _, f := range s.factories {
				f.Shutdown()
			}
			s.broadcaster.Shutdown()
			s.log.Info("local-path provisioner stopped")
			return nil
		})
		for _, f := range s.factories {
			f.Start(ctx.Done())
		}
		s.log.Info("local-path provisioner starting", zap.String("provisioner", s.cfg.ProvisionerName),
			zap.String("configmap", s.cfg.Namespace+"/"+s.cfg.ConfigMapName), zap.String("helperImage", s.cfg.HelperImage),
			zap.String("status", s.status.Addr()))
		synced := make(chan struct{})
		s.Go(ctx, func(ctx context.Context) error { s.controller.Run(ctx, synced); return nil })
		s.Go(ctx, func(ctx context.Context) error {
			select {
			case <-synced:
				s.MarkReady()
			case <-ctx.Done():
			}
			return nil
		})
		return nil
	})
}
