// Package controller is the Ingress controller's loop. It watches
// IngressClasses, Ingresses, Services, EndpointSlices and Secrets; any
// change queues one work item, which waits a short delay so that a burst
// of changes (a rollout moving many endpoints) coalesces into one new
// proxy configuration. The sync is level-triggered: it reads every
// Ingress the controller serves from the informers' caches, builds the
// whole route table and Caddy configuration (routing, proxyconfig),
// applies it if it changed, tells each Ingress of new problems with a
// Warning event, and writes status.loadBalancer last.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"coracle.dev/addons/ingress/internal/class"
	"coracle.dev/addons/ingress/internal/proxyconfig"
	"coracle.dev/addons/ingress/internal/routing"
	"coracle.dev/addons/ingress/internal/status"
)

// Proxy runs a Caddy JSON configuration; Apply reports whether cfg was
// new (and loaded).
type Proxy interface {
	Apply(cfg []byte) (bool, error)
}

// Config is what the controller needs.
type Config struct {
	Client   kubernetes.Interface
	Factory  informers.SharedInformerFactory
	Recorder record.EventRecorder
	Proxy    Proxy
	// Selector says which Ingresses are ours.
	Selector class.Selector
	// PublishService is "namespace/name" of the Service whose addresses
	// the served Ingresses show; empty leaves their status alone.
	PublishService string
	// Options are the proxy's settings that Ingresses do not give.
	Options proxyconfig.Options
	// SyncDelay is how long a change waits for more before the sync.
	SyncDelay time.Duration
	// Registerer takes the controller's metrics; nil registers none.
	Registerer prometheus.Registerer
	Log        *zap.Logger
}

// syncKey is the one work item: every change leads to the same full sync.
const syncKey = "sync"

// Controller serves Ingresses.
type Controller struct {
	cfg       Config
	log       *zap.Logger
	classes   networkinglisters.IngressClassLister
	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	secrets   corelisters.SecretLister
	synced    []toolscache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	metrics   *metrics

	// configured closes after the first sync that loaded the proxy.
	configured     chan struct{}
	configuredOnce sync.Once

	// Only the worker touches these; there is one.
	// reported holds each Ingress's problems already told in events.
	reported map[string]map[routing.Problem]bool
	// statusWritten holds the Ingresses whose status this process set.
	statusWritten map[string]bool
}

// New builds the controller and registers its event handlers on the
// factory's informers; Run starts it.
func New(cfg Config) (*Controller, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	f := cfg.Factory
	c := &Controller{
		cfg:       cfg,
		log:       cfg.Log,
		classes:   f.Networking().V1().IngressClasses().Lister(),
		ingresses: f.Networking().V1().Ingresses().Lister(),
		services:  f.Core().V1().Services().Lister(),
		slices:    f.Discovery().V1().EndpointSlices().Lister(),
		secrets:   f.Core().V1().Secrets().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress"}),
		configured:    make(chan struct{}),
		reported:      map[string]map[routing.Problem]bool{},
		statusWritten: map[string]bool{},
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueue() },
		UpdateFunc: func(any, any) { c.enqueue() },
		DeleteFunc: func(any) { c.enqueue() },
	}
	for _, inf := range []toolscache.SharedIndexInformer{
		f.Networking().V1().IngressClasses().Informer(),
		f.Networking().V1().Ingresses().Informer(),
		f.Core().V1().Services().Informer(),
		f.Discovery().V1().EndpointSlices().Informer(),
		f.Core().V1().Secrets().Informer(),
	} {
		reg, err := inf.AddEventHandler(handler)
		if err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
		c.synced = append(c.synced, reg.HasSynced)
	}
	return c, nil
}

// enqueue schedules a sync after the delay; changes within it join the
// same sync, because the queue keeps the earliest time of a waiting item.
func (c *Controller) enqueue() { c.queue.AddAfter(syncKey, c.cfg.SyncDelay) }

// Configured closes once the proxy runs a configuration of the cluster's
// Ingresses.
func (c *Controller) Configured() <-chan struct{} { return c.configured }

// Run syncs until ctx ends; the informers must be started.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	if !toolscache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	// The first sync runs even if nothing changes: no Ingresses is a
	// configuration too (everything answers 404).
	c.queue.Add(syncKey)
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx); err != nil {
		if ctx.Err() == nil {
			c.log.Error("sync failed; retrying", zap.Error(err), zap.Int("retries", c.queue.NumRequeues(key)))
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync brings the proxy, the events and the statuses in line with the
// Ingresses.
func (c *Controller) sync(ctx context.Context) error {
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return err
	}
	all, err := c.ingresses.List(labels.Everything())
	if err != nil {
		return err
	}
	served := map[string]bool{}
	var ours []*networkingv1.Ingress
	for _, ing := range all {
		if c.cfg.Selector.Served(ing, classes) {
			ours = append(ours, ing)
			served[key(ing)] = true
		}
	}
	table, problems := routing.Build(ours, lookup{c})
	cfg, err := proxyconfig.Build(table, c.cfg.Options)
	if err != nil {
		return err
	}
	loaded, err := c.cfg.Proxy.Apply(cfg)
	c.metrics.reloaded(loaded, err)
	if err != nil {
		return err
	}
	if loaded {
		c.log.Info("proxy configuration loaded", zap.Int("ingresses", len(ours)), zap.Int("hosts", len(table.Hosts)),
			zap.Int("certificates", len(table.Certificates)))
	}
	c.metrics.served.Set(float64(len(ours)))
	c.configuredOnce.Do(func() { close(c.configured) })
	c.report(ours, problems)
	return c.writeStatuses(ctx, all, served)
}

func key(ing *networkingv1.Ingress) string { return ing.Namespace + "/" + ing.Name }

// report sends a Warning event for each problem of an Ingress that was
// not told before; a problem that goes away and comes back is told again.
func (c *Controller) report(ours []*networkingv1.Ingress, problems map[string][]routing.Problem) {
	seen := map[string]bool{}
	for _, ing := range ours {
		k := key(ing)
		seen[k] = true
		now := map[routing.Problem]bool{}
		for _, p := range problems[k] {
			now[p] = true
			if !c.reported[k][p] {
				c.cfg.Recorder.Event(ing, corev1.EventTypeWarning, p.Reason, p.Message)
				c.log.Warn("ingress has a problem", zap.String("ingress", k), zap.String("reason", p.Reason), zap.String("message", p.Message))
			}
		}
		c.reported[k] = now
	}
	for k := range c.reported {
		if !seen[k] {
			delete(c.reported, k)
		}
	}
}

// writeStatuses sets status.loadBalancer of the served Ingresses to the
// publish Service's addresses and clears it on those no longer served.
func (c *Controller) writeStatuses(ctx context.Context, all []*networkingv1.Ingress, served map[string]bool) error {
	if c.cfg.PublishService == "" {
		return nil
	}
	published, err := c.published()
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return key(all[i]) < key(all[j]) })
	exists := map[string]bool{}
	var errs []error
	for _, ing := range all {
		k := key(ing)
		exists[k] = true
		want, write := status.Desired(served[k], c.statusWritten[k], ing.Status.LoadBalancer.Ingress, published)
		if !write {
			continue
		}
		updated := ing.DeepCopy()
		updated.Status.LoadBalancer.Ingress = want
		_, err := c.cfg.Client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		switch {
		case apierrors.IsNotFound(err):
			delete(c.statusWritten, k)
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("update status of ingress %s: %w", k, err))
			continue
		}
		if served[k] {
			c.statusWritten[k] = true
		} else {
			delete(c.statusWritten, k)
		}
		c.log.Info("ingress status updated", zap.String("ingress", k), zap.Any("loadBalancer", want))
	}
	for k := range c.statusWritten {
		if !exists[k] {
			delete(c.statusWritten, k)
		}
	}
	return errors.Join(errs...)
}

// published are the publish Service's addresses; none while it does not
// exist.
func (c *Controller) published() ([]networkingv1.IngressLoadBalancerIngress, error) {
	ns, name, err := toolscache.SplitMetaNamespaceKey(c.cfg.PublishService)
	if err != nil {
		return nil, fmt.Errorf("publish service %q: %w", c.cfg.PublishService, err)
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return status.Addresses(svc), nil
}

// lookup reads the objects Ingresses refer to from the caches.
type lookup struct{ c *Controller }

func (l lookup) Service(ns, name string) (*corev1.Service, bool) {
	s, err := l.c.services.Services(ns).Get(name)
	return s, err == nil
}

func (l lookup) EndpointSlices(ns, svc string) []*discoveryv1.EndpointSlice {
	s, err := l.c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc}))
	if err != nil {
		return nil
	}
	return s
}

func (l lookup) Secret(ns, name string) (*corev1.Secret, bool) {
	s, err := l.c.secrets.Secrets(ns).Get(name)
	return s, err == nil
}

// metrics are the controller's, named as ingress-nginx's reload metrics.
type metrics struct {
	reloads      *prometheus.CounterVec
	lastReloadOK prometheus.Gauge
	served       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coracle_ingress_config_reloads_total",
			Help: "Proxy configuration loads, by result (success or failure).",
		}, []string{"result"}),
		lastReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coracle_ingress_config_last_reload_successful",
			Help: "Whether the last proxy configuration load succeeded (1) or failed (0).",
		}),
		served: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coracle_ingress_served_ingresses",
			Help: "Ingresses this controller serves.",
		}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.reloads, m.lastReloadOK, m.served} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) reloaded(loaded bool, err error) {
	switch {
	case err != nil:
		m.reloads.WithLabelValues("failure").Inc()
		m.lastReloadOK.Set(0)
	case loaded:
		m.reloads.WithLabelValues("success").Inc()
		m.lastReloadOK.Set(1)
	}
}
