package routes

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// DefaultResync is how often the routes are checked with no Node change
// to prompt it: someone may have deleted one by hand, or a gateway that
// was unreachable may be reachable now.
const DefaultResync = 10 * time.Second

// Options configure a Controller.
type Options struct {
	// Self is this node's name.
	Self string
	// Nodes is a Node informer over every node of the cluster.
	Nodes coreinformers.NodeInformer
	// Applier sets the routes.
	Applier *Applier
	// PodCIDRs, when set, is told every node's pod CIDRs at each sync
	// (the pod network keeps its traffic to them unmasqueraded); it
	// should be cheap when nothing changed. An error is retried at the
	// next sync.
	PodCIDRs func([]netip.Prefix) error
	// Resync is the period of a sync with no event; 0 means
	// DefaultResync.
	Resync time.Duration
	Log    *zap.Logger
}

// Controller keeps the routes to the other nodes' pods, and the list of
// pod CIDRs, in line with the Node objects. It is level-triggered: each
// sync reads every Node from the informer's cache and the routes from
// the kernel, and an event only wakes it up.
type Controller struct {
	opts  Options
	nodes corelisters.NodeLister
	wake  chan struct{}
}

// NewController returns a controller and registers its event handlers on
// the informer; Run runs it.
func NewController(opts Options) (*Controller, error) {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	c := &Controller{opts: opts, nodes: opts.Nodes.Lister(), wake: make(chan struct{}, 1)}
	_, err := opts.Nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.Wake() },
		DeleteFunc: func(any) { c.Wake() },
		UpdateFunc: func(old, cur any) {
			// Status heartbeats change neither the pod CIDRs nor the
			// addresses; they need no sync.
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || routingChanged(o, n) {
				c.Wake()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func routingChanged(o, n *corev1.Node) bool {
	return o.Spec.PodCIDR != n.Spec.PodCIDR || !slices.Equal(o.Spec.PodCIDRs, n.Spec.PodCIDRs) ||
		!slices.Equal(o.Status.Addresses, n.Status.Addresses)
}

// Wake asks for a sync soon; wake-ups coalesce.
func (c *Controller) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run syncs on every wake-up and every Resync until ctx ends; it starts
// once the informer has synced, so that no route is removed for a node
// merely not listed yet.
func (c *Controller) Run(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), c.opts.Nodes.Informer().HasSynced) {
		return
	}
	t := time.NewTicker(c.opts.Resync)
	defer t.Stop()
	for {
		c.Sync()
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// Sync brings the routes and the pod CIDR list in line with the cached
// Nodes once.
func (c *Controller) Sync() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.opts.Log.Error("list nodes", zap.Error(err))
		return
	}
	if _, err := c.opts.Applier.Apply(Wanted(c.opts.Self, nodes)); err != nil {
		c.opts.Log.Error("sync routes to other nodes' pods", zap.Error(err))
	}
	if c.opts.PodCIDRs == nil {
		return
	}
	if err := c.opts.PodCIDRs(PodCIDRs(nodes)); err != nil {
		c.opts.Log.Error("sync pod CIDRs of the cluster", zap.Error(err))
	}
}
