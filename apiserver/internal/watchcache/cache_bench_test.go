package watchcache

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanout1000 measures one write reaching 1,000 watchers of the
// cache (etcd write, cache event, delivery to every channel): the in-process
// part of the watch target. It reports the p99 over the run.
func BenchmarkFanout1000(b *testing.B) {
	f := newFixture(b, nil)
	f.put(b, "probe", nil, "0")
	const n = 1000
	watchers := make([]*Watcher, n)
	for i := range watchers {
		w, err := f.cache.Watch(context.Background(), WatchOptions{Revision: mustRev(b, f)})
		if err != nil {
			b.Fatal(err)
		}
		watchers[i] = w
		defer w.Stop()
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		f.put(b, "probe", nil, fmt.Sprint(i+1))
		var wg sync.WaitGroup
		for _, w := range watchers {
			wg.Add(1)
			go func(w *Watcher) {
				defer wg.Done()
				<-w.Events()
			}(w)
		}
		wg.Wait()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
