package controller

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
)

// Base is the part every controller shares, as in sample-controller:
// event handlers put keys on the queue; once the informers the
// controller reads have synced, workers pop keys and call the
// controller's sync, which reads the current state from the caches and
// acts on it. A controller embeds a *Base, which makes it a Runner.
//
//	handlers ──keys──► queue ──► workers ──► sync(key)
//	                              (after every informer synced)
type Base struct {
	queue   *Queue[string] // nil for a controller without a sync
	sync    SyncFunc[string]
	workers int
	synced  []cache.InformerSynced
	onSync  []func(ctx context.Context)
	every   []periodic
	more    []further
}

// further is a queue a controller keeps beside its own, with its sync.
type further struct {
	queue *Queue[string]
	sync  SyncFunc[string]
}

type periodic struct {
	period time.Duration
	f      func(ctx context.Context)
}

// NewBase returns the base of the controller c is for; sync reconciles
// one key. A controller with nothing to queue (it only works every
// period) passes a nil sync and gets no queue.
func NewBase(c Context, sync SyncFunc[string]) *Base {
	b := &Base{sync: sync, workers: c.Workers}
	if sync != nil {
		b.queue = NewQueue[string](c.QueueOptions(c.Name))
	}
	return b
}

// Enqueue queues key now.
func (b *Base) Enqueue(key string) { b.queue.Add(key) }

// EnqueueAfter queues key after d: a sync asks for a later look so.
func (b *Base) EnqueueAfter(key string, d time.Duration) { b.queue.AddAfter(key, d) }

// AddQueue returns a further queue, named name in logs and metrics, that
// Run drains with sync, one key at a time, beside the controller's own
// queue and once the same caches have synced: for keys of another kind
// than the controller's objects (the Job controller's orphan pods).
func (b *Base) AddQueue(c Context, name string, sync SyncFunc[string]) *Queue[string] {
	q := NewQueue[string](c.QueueOptions(name))
	b.more = append(b.more, further{queue: q, sync: sync})
	return q
}

// Watch registers h on inf and has Run wait for inf's cache.
func (b *Base) Watch(inf cache.SharedInformer, h cache.ResourceEventHandler) error {
	if _, err := inf.AddEventHandler(h); err != nil {
		return err
	}
	b.WaitFor(inf)
	return nil
}

// WaitFor has Run wait for the caches of informers the controller reads
// but does not watch.
func (b *Base) WaitFor(infs ...cache.SharedInformer) {
	for _, inf := range infs {
		b.synced = append(b.synced, inf.HasSynced)
	}
}

// OnSynced has Run call f once the caches have synced, before the
// workers start.
func (b *Base) OnSynced(f func(ctx context.Context)) { b.onSync = append(b.onSync, f) }

// Every has Run call f every period, the first time as the workers
// start, until ctx ends.
func (b *Base) Every(period time.Duration, f func(ctx context.Context)) {
	b.every = append(b.every, periodic{period: period, f: f})
}

// Run implements Runner: it waits for the caches, then runs the workers
// (of the further queues too) and the periodic work until ctx ends; then
// the queues are shut down and Run returns once every worker has
// finished.
func (b *Base) Run(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), b.synced...) {
		return
	}
	for _, f := range b.onSync {
		f(ctx)
	}
	var wg sync.WaitGroup
	for _, p := range b.every {
		wg.Go(func() { wait.UntilWithContext(ctx, p.f, p.period) })
	}
	for _, m := range b.more {
		wg.Go(func() { m.queue.Run(ctx, 1, m.sync) })
	}
	if b.queue != nil {
		b.queue.Run(ctx, b.workers, b.sync)
	} else {
		<-ctx.Done()
	}
	wg.Wait()
}

// Get reads the object of a namespace/name key from a lister's cache,
// through its namespace getter (e.g. a CronJobLister's CronJobs): false,
// and no error, when the object is gone or the key is malformed.
func Get[T any, L interface{ Get(name string) (T, error) }](key string, namespace func(ns string) L) (T, bool, error) {
	var zero T
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return zero, false, nil
	}
	obj, err := namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	return obj, true, nil
}
