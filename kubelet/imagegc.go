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
		Dir: k.opts.RootDir, HighPercent: k.opts.ImageGCHighThreshold, LowPercent: k.opts.ImageGCLowThreshold,
		MinAge: 2 * time.Minute,
	}, inUse)
	for _, r := range removed {
		k.log.Info("image removed", zap.String("image", r))
	}
	return err
}
