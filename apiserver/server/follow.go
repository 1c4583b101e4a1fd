package server

import (
	"context"
	"time"

	"go.uber.org/zap"

	"coracle.dev/apiserver/internal/watchcache"
)

// follow watches a watch cache for the server's own consumers (the Node
// authorizer's pod index, the crd controller) until ctx ends: it waits
// for the cache to list, hands each watch's initial state to initial and
// its events to event, and watches again when a watch ends (the cache
// closes slow or outdated watchers).
func (s *Server) follow(ctx context.Context, cache *watchcache.Cache, what string, initial func([]watchcache.Delivery), event func(watchcache.Delivery)) {
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for ctx.Err() == nil {
		if !cache.Ready() {
			if !pause(50 * time.Millisecond) {
				return
			}
			continue
		}
		w, err := cache.Watch(ctx, watchcache.WatchOptions{})
		if err != nil {
			s.log.Warn("watch "+what, zap.Error(err))
			if !pause(time.Second) {
				return
			}
			continue
		}
		initial(w.Initial())
		for d := range w.Events() {
			event(d)
		}
		w.Stop()
	}
}
