package routes

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
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
	// Mode is how other nodes' pods are reached; "" means HostGW.
	Mode Mode
	// Nodes is a Node informer over every node of the cluster.
	Nodes coreinformers.NodeInformer
	// Applier sets the routes.
	Applier *Applier
	// Client, when set, publishes this node's VTEP MAC in its Node's
	// VTEPMACAnnotation in vxlan mode, and withdraws it in host-gw mode
	// (the node has no VTEP then). It patches node Self only.
	Client kubernetes.Interface
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

// Controller keeps the routes to the other nodes' pods (and in vxlan
// mode the VXLAN device, its entries and this node's VTEP annotation),
// and the list of pod CIDRs, in line with the Node objects. It is
// level-triggered: each sync reads every Node from the informer's cache
// and the tables from the kernel, and an event only wakes it up.
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
	if opts.Mode == "" {
		opts.Mode = HostGW
	}
	c := &Controller{opts: opts, nodes: opts.Nodes.Lister(), wake: make(chan struct{}, 1)}
	_, err := opts.Nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.Wake() },
		DeleteFunc: func(any) { c.Wake() },
		UpdateFunc: func(old, cur any) {
			// Status heartbeats change neither the pod CIDRs, the
			// addresses nor the VTEP; they need no sync.
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
		!slices.Equal(o.Status.Addresses, n.Status.Addresses) ||
		o.Annotations[VTEPMACAnnotation] != n.Annotations[VTEPMACAnnotation]
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
		c.Sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// Sync brings the tables and the pod CIDR list in line with the cached
// Nodes once.
func (c *Controller) Sync(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.opts.Log.Error("list nodes", zap.Error(err))
		return
	}
	if c.syncDevice(ctx, nodes) {
		if _, err := c.opts.Applier.Apply(Decide(c.opts.Self, nodes, c.opts.Mode)); err != nil {
			c.opts.Log.Error("sync routes to other nodes' pods", zap.Error(err))
		}
	}
	if c.opts.PodCIDRs == nil {
		return
	}
	if err := c.opts.PodCIDRs(PodCIDRs(nodes)); err != nil {
		c.opts.Log.Error("sync pod CIDRs of the cluster", zap.Error(err))
	}
}

// syncDevice makes the VXLAN device in vxlan mode, and publishes its MAC,
// or removes it and withdraws the MAC in host-gw mode (a node switched
// from vxlan keeps nothing of it). It reports whether the plan can be
// applied: in vxlan mode, not before the device exists, which needs this
// node's InternalIP from its Node.
func (c *Controller) syncDevice(ctx context.Context, nodes []*corev1.Node) bool {
	var self *corev1.Node
	for _, n := range nodes {
		if n != nil && n.Name == c.opts.Self {
			self = n
		}
	}
	if c.opts.Mode != VXLAN {
		if err := c.opts.Applier.RemoveDevice(); err != nil {
			c.opts.Log.Error("remove the vxlan device", zap.Error(err))
		}
		if self != nil {
			if _, ok := self.Annotations[VTEPMACAnnotation]; ok {
				c.publish(ctx, nil)
			}
		}
		return true
	}
	if self == nil {
		c.opts.Log.Debug("vxlan device waits for the node to be registered")
		return false
	}
	local, ok := internalIP(self, true)
	if !ok {
		c.opts.Log.Debug("vxlan device waits for the node's IPv4 InternalIP")
		return false
	}
	podCIDR, _ := podCIDRv4(self)
	mac, err := c.opts.Applier.EnsureDevice(local, podCIDR)
	if err != nil {
		c.opts.Log.Error("set up the vxlan device", zap.Error(err))
		return false
	}
	if self.Annotations[VTEPMACAnnotation] != mac.String() {
		s := mac.String()
		c.publish(ctx, &s)
	}
	return true
}

// publish sets this node's VTEPMACAnnotation to mac, or removes it when
// mac is nil, with a merge patch of the annotation alone (the kubelet
// writes its Node's status elsewhere; a patch cannot conflict with it).
// A failure is retried at the next sync, which finds the annotation
// still wrong.
func (c *Controller) publish(ctx context.Context, mac *string) {
	if c.opts.Client == nil {
		return
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]*string{VTEPMACAnnotation: mac}}})
	if err != nil {
		c.opts.Log.Error("vtep annotation patch", zap.Error(err))
		return
	}
	if _, err := c.opts.Client.CoreV1().Nodes().Patch(ctx, c.opts.Self, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		c.opts.Log.Error("publish the node's vtep", zap.String("annotation", VTEPMACAnnotation), zap.Error(err))
		return
	}
	if mac == nil {
		c.opts.Log.Info("node's vtep withdrawn", zap.String("annotation", VTEPMACAnnotation))
		return
	}
	c.opts.Log.Info("node's vtep published", zap.String("annotation", VTEPMACAnnotation), zap.String("mac", *mac))
}
