package kubelet

import (
	"context"

	"k8s.io/client-go/informers"

	"coracle.dev/kubelet/internal/network/routes"
)

// startNodeRoutes connects this node's pods with the other nodes' pods
// (--node-routes=host-gw, runc only): a Node informer over the whole
// cluster feeds a routes.Controller, which routes every other node's pod
// CIDR via its InternalIP and keeps the pod network from masquerading
// traffic to any node's pod CIDR. The informer exists only then: with
// routes off the kubelet watches its own Node only. Close leaves the
// routes in place, so a kubelet restart does not cut pods off; a
// teardown removes them.
func (k *Kubelet) startNodeRoutes(ctx context.Context) error {
	if k.network == nil || k.opts.NodeRoutes != NodeRoutesHostGW {
		return nil
	}
	nf := informers.NewSharedInformerFactory(k.client, 0)
	c, err := routes.NewController(routes.Options{
		Self: k.opts.NodeName, Nodes: nf.Core().V1().Nodes(),
		Applier:  routes.NewApplier(nil, k.log.Named("routes")),
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
