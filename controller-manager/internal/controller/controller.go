// Package controller is the contract between the controller manager and
// the controllers it runs: every controller is built from a Context and
// runs until its context ends. The controllers themselves live in the
// sub-packages, one per controller.
package controller

import (
	"context"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/controller/reconcile"
	"coracle.dev/controller-manager/internal/metrics"
)

// Runner is a built controller. Run blocks until ctx ends; it waits for
// the informers it needs to sync before it starts its workers.
type Runner interface {
	Run(ctx context.Context)
}

// Context is what a controller is built from. The informer factory is
// shared by all controllers and started by the manager once every
// controller has asked for its informers.
type Context struct {
	// Name is the controller's name, e.g. "replicaset-controller".
	Name string
	// Client is a clientset for this controller alone (its own rate limit
	// and user agent).
	Client kubernetes.Interface
	// Dynamic and Metadata reach any resource; Discovery lists them.
	Dynamic   dynamic.Interface
	Metadata  metadata.Interface
	Discovery discovery.DiscoveryInterface
	// Informers are shared by every controller.
	Informers informers.SharedInformerFactory
	// Recorder records core/v1 Events with the controller's name as source.
	Recorder record.EventRecorder
	Log      *zap.Logger
	Clock    clock.WithTicker
	Metrics  *metrics.Metrics
	// Workers is how many keys the controller reconciles at once.
	Workers int
	// Settings are the manager's settings the controllers read.
	Settings Settings
}

// Settings are the knobs of individual controllers.
type Settings struct {
	// ClusterCIDR and NodeCIDRMaskSize drive node IPAM; an empty
	// ClusterCIDR turns it off.
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// NodeMonitorPeriod and NodeMonitorGracePeriod drive node lifecycle.
	NodeMonitorPeriod      time.Duration
	NodeMonitorGracePeriod time.Duration
	// RootCA is the PEM the root CA publisher writes into every namespace.
	RootCA []byte
	// TerminatedPodGCThreshold is how many finished pods the pod GC keeps.
	TerminatedPodGCThreshold int
	// PodGCPeriod is how often the pod GC looks; 0 means 20s.
	PodGCPeriod time.Duration
	// JobBackoffBase and JobBackoffMax bound a Job's pod re-creation
	// back-off; 0 means 10s and 6m as in Kubernetes.
	JobBackoffBase, JobBackoffMax time.Duration
	// GCResyncPeriod is how often the garbage collector looks for newly
	// served resources; 0 means 30s.
	GCResyncPeriod time.Duration
}

// NewQueue returns the controller's work queue of string keys.
func (c Context) NewQueue() *reconcile.Queue[string] {
	return reconcile.New[string](c.QueueOptions(c.Name))
}

// QueueOptions are the options of a queue named name.
func (c Context) QueueOptions(name string) reconcile.Options {
	return reconcile.Options{Name: name, Metrics: c.Metrics, Clock: c.Clock, Log: c.Log}
}
