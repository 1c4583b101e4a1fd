package kubelet

import (
	"context"
	"time"

	"go.uber.org/zap"

	"coracle.dev/kubelet/internal/images"
)

// imageGCLoop removes unused images when the disk holding the image store
// is fuller than the high threshold, down to the low one, every 5 minutes.
func (k *Kubelet) imageGCLoop(ctx context.Context) error {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := k.imageGC(ctx); err != nil {
			k.log.Warn("image garbage collection", zap.Error(err))
		}
	}
}

// imageGC runs one pass of image garbage collection.
func (k *Kubelet) imageGC(ctx context.Context) error {
	return k.removeImages(ctx, k.opts.ImageGCHighThreshold, k.opts.ImageGCLowThreshold)
}

// deleteUnusedImages removes every image no container uses (and none
// used in the last 2 minutes), whatever the disk usage: the eviction
// manager's first answer to disk pressure, as upstream's
// DeleteUnusedImages.
func (k *Kubelet) deleteUnusedImages(ctx context.Context) error {
	// Usage is above 0% while there is anything on the disk, and never
	// at or below it: every unused image goes.
	return k.removeImages(ctx, 0, 0)
}

// removeImages removes unused images, least recently used first, when
// the disk is fuller than high percent, until it is at most low percent.
func (k *Kubelet) removeImages(ctx context.Context, high, low int) error {
	pods, err := k.runtime.ListPods(ctx)
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Containers {
			inUse[c.ImageRef] = true
		}
	}
	removed, err := k.images.GC(images.GCPolicy{
		Dir: k.opts.RootDir, HighPercent: high, LowPercent: low,
		MinAge: 2 * time.Minute,
	}, inUse)
	for _, r := range removed {
		k.log.Info("image removed", zap.String("image", r))
	}
	return err
}
