package kubelet

import (
	"context"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"coracle.dev/kubelet/internal/staticpods"
)

// newStaticPods builds the source of static pods (--pod-manifest-path,
// --manifest-url) of the kubelet's node (the first, with simulated
// nodes) and the keeper of their mirror pods. A change of the source syncs the pods it concerns: a
// manifest edited is a pod of a new UID, whose worker starts it once the
// old UID's has stopped the old one.
func (k *Kubelet) newStaticPods() {
	k.mirrorKick = make(chan struct{}, 1)
	k.static = staticpods.New(staticpods.Options{
		NodeName: k.staticNode(), Path: k.opts.PodManifestPath, FileCheckFrequency: k.opts.FileCheckFrequency,
		URL: k.opts.ManifestURL, HTTPCheckFrequency: k.opts.HTTPCheckFrequency,
		Log: k.log.Named("staticpods"),
		Changed: func(uids []types.UID) {
			for _, uid := range uids {
				k.workers.Update(uid)
			}
			k.kickMirrors()
		},
	})
	k.mirrors = &staticpods.Mirrors{Client: k.client, NodeName: k.staticNode(), Log: k.log.Named("mirrorpods")}
}

// startStaticPods reads the static pods at once (the pod workers start
// them when they start) and keeps their mirror pods once the pods are
// listed and the node registered (the mirror pods are owned by the
// Node).
func (k *Kubelet) startStaticPods(ctx context.Context) {
	if !k.static.Enabled() {
		return
	}
	k.Go(ctx, func(ctx context.Context) error { k.static.Run(ctx); return nil })
	k.Go(ctx, k.runMirrors)
}

// staticNode is the node static pods run on.
func (k *Kubelet) staticNode() string { return k.nodes[0] }

func (k *Kubelet) kickMirrors() {
	select {
	case k.mirrorKick <- struct{}{}:
	default:
	}
}

// runMirrors makes the API's mirror pods follow the static pods: at
// each change of either, and every sync period.
func (k *Kubelet) runMirrors(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), k.podInformer.HasSynced) {
		return nil
	}
	select {
	case <-k.managers[k.staticNode()].Registered():
	case <-ctx.Done():
		return nil
	}
	t := time.NewTicker(k.opts.SyncFrequency)
	defer t.Stop()
	lastErr := ""
	for {
		err := k.mirrors.Sync(ctx, k.static.Pods(), k.mirrorPods())
		switch {
		case err != nil && err.Error() != lastErr && ctx.Err() == nil:
			k.log.Warn("mirror pods", zap.Error(err))
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-k.mirrorKick:
		case <-t.C:
		}
	}
}

// mirrorPods lists the mirror pods of the kubelet's own node from the
// pod cache.
func (k *Kubelet) mirrorPods() []*v1.Pod {
	var out []*v1.Pod
	for _, obj := range k.podInformer.GetStore().List() {
		if p, ok := obj.(*v1.Pod); ok && p.Spec.NodeName == k.staticNode() && staticpods.IsMirrorPod(p) {
			out = append(out, p)
		}
	}
	return out
}

// mirrorPod returns the current mirror pod of a static pod from the pod
// cache, or nil: its status goes there.
func (k *Kubelet) mirrorPod(static *v1.Pod) *v1.Pod {
	obj, ok, err := k.podInformer.GetStore().GetByKey(static.Namespace + "/" + static.Name)
	if err != nil || !ok {
		return nil
	}
	if p, _ := obj.(*v1.Pod); staticpods.IsMirrorOf(p, static) {
		return p
	}
	return nil
}

// mirrorChanged is the pod cache's event about a mirror pod: the mirror
// pods are checked (one deleted is made anew), and the static pod's
// status is written to a mirror pod just made.
func (k *Kubelet) mirrorChanged(mirror *v1.Pod) {
	k.kickMirrors()
	for _, p := range k.static.Pods() {
		if p.Namespace == mirror.Namespace && p.Name == mirror.Name {
			k.workers.Update(p.UID)
		}
	}
}
