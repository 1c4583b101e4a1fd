package kubelet

import (
	"context"

	"k8s.io/client-go/informers"

	"coracle.dev/kubelet/internal/network/routes"
)

// startNodeRoutes connects this node's pods with the other nodes' pods
// (runc only): a Node informer over the whole cluster feeds a
// routes.Controller, which with --node-routes=host-gw routes every other
// node's pod CIDR via its InternalIP and with --node-routes=vxlan keeps
// the VXLAN device, its entries and the Node's VTEP annotation; either
// way it keeps the pod network from masquerading traffic to any node's
// pod CIDR. The informer exists only then: with routes off the kubelet
// watches its own Node only, and touches no route or device (another
// agent's, or a real node's when a test kubelet shares its namespace).
// Close leaves the routes and the device in place, so a kubelet restart
// does not cut pods off; a teardown removes them.
func (k *Kubelet) startNodeRoutes(ctx context.Context) error {
	if k.network == nil {
		return nil
	}
	var mode routes.Mode
	switch k.opts.NodeRoutes {
	case NodeRoutesHostGW:
		mode = routes.HostGW
	case NodeRoutesVXLAN:
		mode = routes.VXLAN
	default:
		return nil
	}
	nf := informers.NewSharedInformerFactory(k.client, 0)
	c, err := routes.NewController(routes.Options{
		Self: k.opts.NodeName, Mode: mode, Nodes: nf.Core().V1().Nodes(),
		Applier:  routes.NewApplier(nil, k.log.Named("routes")),
		Client:   k.client,
		PodCIDRs: k.network.SetClusterPodCIDRs,
		Log:      k.log.Named("routes"),
	})
	if err != nil {
		return err
	}
	nf.Start(ctx.Done())
	k.OnClose(func(context.Context) error { nf.Shutdown(); return nil })
	k.Go(ctx, func(ctx context.Context) error { c.Run(ctx); return nil })
	return nil
}
