// Package controller is what every controller of the controller manager
// is built on, and the contract between them and the manager.
//
// The contract: a controller is built from a Context and is a Runner,
// whose Run blocks until its context ends. The base: a Base holds a
// controller's work queue (and any further one, AddQueue), its workers
// and the event handlers that fill the queue with keys (Handlers,
// Objects, Owners, ExpectedPods), and runs them all once the informers it
// reads have synced, the shape of kubernetes/sample-controller. A
// controller package then holds only its informers and which objects map
// to which keys, its sync(key), its Decide and Plan, and the actions that
// carry a plan out.
//
// The controllers live in the sub-packages, one per controller; the
// parts several of them share (claiming, expectations, pod creation, pod
// state, Service backends, the template hash, what a node's certificate
// request must look like) live in internal/controllerkit.
package controller

import (
	"context"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

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

// QueueOptions are the options of a queue named name.
func (c Context) QueueOptions(name string) QueueOptions {
	return QueueOptions{Name: name, Metrics: c.Metrics, Clock: c.Clock, Log: c.Log}
}

// Served reports whether the apiserver serves groupVersion. A controller
// built on an apiserver that does not would wait for its informer forever
// and hold the whole manager not ready; it stays off instead, as
// kube-controller-manager leaves off controllers whose resources are not
// available. Only a clear "not found" answers false: on any other error
// the controller starts and its informer retries.
func Served(disc discovery.DiscoveryInterface, groupVersion string) bool {
	_, err := disc.ServerResourcesForGroupVersion(groupVersion)
	return !apierrors.IsNotFound(err)
}
