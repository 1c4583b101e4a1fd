// Package apiclient builds a component's clients of the apiserver: from a
// kubeconfig file or a rest.Config a test injects, with the component's
// rate limit and user agent, and a second client for events with a rate
// limit of its own, as Kubernetes' components have, so that a burst of
// events never delays a binding or a status write.
package apiclient

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"coracle.dev/shared/kubeconfig"
)

// Options say where the apiserver is and how fast the component may call it.
type Options struct {
	// Kubeconfig is the path of the component's kubeconfig.
	Kubeconfig string
	// RESTConfig, when set, is used instead of Kubeconfig (it is copied).
	RESTConfig *rest.Config
	// UserAgent names the component in the apiserver's logs and metrics.
	UserAgent string
	// QPS and Burst bound the requests per second of the main client.
	QPS   float32
	Burst int
	// EventQPS and EventBurst bound the events client; zero means QPS
	// and Burst.
	EventQPS   float32
	EventBurst int
}

// Clients are a component's API clients.
type Clients struct {
	// REST is the main client's configuration (rate limit and user agent
	// set), for clients of other kinds (dynamic, metadata, discovery).
	REST *rest.Config
	// Client is the main client.
	Client kubernetes.Interface
	// Events is the client events are written with.
	Events kubernetes.Interface
}

// New builds the clients; nothing is sent to the apiserver yet.
func New(o Options) (*Clients, error) {
	rc := o.RESTConfig
	if rc == nil {
		var err error
		if rc, err = kubeconfig.RESTConfig(o.Kubeconfig); err != nil {
			return nil, err
		}
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = o.QPS, o.Burst
	if o.UserAgent != "" {
		rc.UserAgent = o.UserAgent
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	erc := rest.CopyConfig(rc)
	if o.EventQPS > 0 {
		erc.QPS = o.EventQPS
	}
	if o.EventBurst > 0 {
		erc.Burst = o.EventBurst
	}
	events, err := kubernetes.NewForConfig(erc)
	if err != nil {
		return nil, fmt.Errorf("event client: %w", err)
	}
	return &Clients{REST: rc, Client: client, Events: events}, nil
}

// Broadcaster returns an event broadcaster that writes through the events
// client; the component shuts it down when it stops.
func (c *Clients) Broadcaster() record.EventBroadcaster {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.Events.CoreV1().Events("")})
	return b
}
