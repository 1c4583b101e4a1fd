// Package watchcache keeps, per resource, one etcd watch feeding an
// in-memory copy of every object and a ring of recent events, and fans each
// event out to all the clients watching that resource.
//
// A client resumes from any revision still in the ring and gets every later
// event exactly once; older revisions get ErrExpired (410 Gone), as in
// Kubernetes. Lists with resourceVersion=0 and watches that start with the
// current state are served from the copy, never from etcd.
//
// Life of the cache:
//
//	list prefix at R ──> watch from R+1 ──> events ──> ring + copy ──> watchers
//	      ^                                    │
//	      └──── watch failed (compaction) ─────┘  (watchers are closed; they resume)
package watchcache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/apiserver/internal/etcdstore"
)

// Errors a watch can fail with.
var (
	// ErrExpired: the revision asked for is older than the ring holds.
	ErrExpired = errors.New("too old resource version")
	// ErrTooLarge: the revision asked for is newer than the cache reached
	// within the wait.
	ErrTooLarge = errors.New("too large resource version")
	// ErrNotReady: the cache has not finished its first list.
	ErrNotReady = errors.New("watch cache not ready")
)

// ExpiredError carries the two revisions of an ErrExpired.
type ExpiredError struct {
	Requested, Oldest int64
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("too old resource version: %d (%d)", e.Requested, e.Oldest)
}

// Is makes errors.Is(err, ErrExpired) true.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }

// Config of one resource's cache.
type Config struct {
	Client *clientv3.Client
	// Prefix is the resource's etcd prefix, ending in "/".
	Prefix string
	// NewObject returns an empty object of the resource's kind.
	NewObject func() runtime.Object
	// Attrs returns the selectable fields of an object.
	Attrs AttrFunc
	// Capacity is the number of events the ring keeps.
	Capacity int
	// BookmarkInterval is how often watchers that allow bookmarks get one.
	BookmarkInterval time.Duration
	// RequestProgress asks etcd to tell every watch how far it is; the
	// cache calls it when a client wants a revision it has not reached.
	RequestProgress func(ctx context.Context) error
	// SlowWatcherBudget is how long one event may wait on watchers whose
	// buffers are full before those watchers are closed.
	SlowWatcherBudget time.Duration
	// WatcherBuffer is each watcher's channel capacity.
	WatcherBuffer int
	// Decoded, when set, finishes each object read from etcd (a custom
	// resource stored in another of its versions gets this cache's).
	Decoded func(runtime.Object) error
	// Convert, when set, turns each object read from etcd (a NewObject,
	// finished by Decoded) into the one the cache keeps and serves: a
	// kind stored in another version's form (autoscaling/v1
	// HorizontalPodAutoscalers kept as autoscaling/v2 ones) is cached in
	// the version its watchers read.
	Convert func(runtime.Object) (runtime.Object, error)
	// Transformer decrypts the resource's values, when they are encrypted
	// at rest: the one the etcdstore.Store writes them with. nil reads
	// them as plain JSON.
	Transformer etcdstore.Transformer
	Log         *zap.Logger
}

// Cache is one resource's watch cache.
type Cache struct {
	cfg Config
	log *zap.Logger

	mu         sync.RWMutex // guards everything below
	ready      bool
	store      map[string]*entry
	ring       []*Event // circular; ring[(start+i)%len] is the i-th oldest
	start      int
	count      int
	oldest     int64 // every event after this revision is in the ring
	rev        int64 // the cache reflects etcd up to this revision
	watchers   map[uint64]*Watcher
	nextID     uint64
	revChanged chan struct{} // closed and replaced whenever rev moves
}

type entry struct {
	obj   runtime.Object
	attrs attrs
}

// New returns a cache; Run fills it.
func New(cfg Config) *Cache {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 4096
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = time.Minute
	}
	if cfg.SlowWatcherBudget <= 0 {
		cfg.SlowWatcherBudget = 250 * time.Millisecond
	}
	if cfg.WatcherBuffer <= 0 {
		cfg.WatcherBuffer = 1024
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Cache{
		cfg:        cfg,
		log:        cfg.Log.With(zap.String("prefix", cfg.Prefix)),
		store:      map[string]*entry{},
		ring:       make([]*Event, cfg.Capacity),
		watchers:   map[uint64]*Watcher{},
		revChanged: make(chan struct{}),
	}
}

// Run lists and watches until ctx ends, listing again whenever the etcd
// watch fails.
func (c *Cache) Run(ctx context.Context) {
	defer c.closeAll("apiserver shutting down")
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.listAndWatch(ctx)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("watch cache restarting", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

func (c *Cache) listAndWatch(ctx context.Context) error {
	resp, err := c.cfg.Client.Get(ctx, c.cfg.Prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	store := make(map[string]*entry, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		obj, err := c.decode(kv)
		if err != nil {
			c.log.Error("skipping undecodable object", zap.ByteString("key", kv.Key), zap.Error(err))
			continue
		}
		a, err := computeAttrs(obj, c.cfg.Attrs)
		if err != nil {
			return err
		}
		store[string(kv.Key)] = &entry{obj: obj, attrs: a}
	}
	rev := resp.Header.Revision
	c.mu.Lock()
	c.closeAllLocked("watch cache relisted")
	c.store = store
	c.start, c.count = 0, 0
	for i := range c.ring {
		c.ring[i] = nil
	}
	c.oldest = rev
	c.setRevLocked(rev)
	c.ready = true
	c.mu.Unlock()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := c.cfg.Client.Watch(wctx, c.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	ticker := time.NewTicker(c.cfg.BookmarkInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			c.sendBookmarks()
		case wresp, ok := <-wch:
			if !ok {
				return errors.New("etcd watch channel closed")
			}
			if err := wresp.Err(); err != nil {
				return fmt.Errorf("etcd watch: %w", err)
			}
			if wresp.IsProgressNotify() {
				c.mu.Lock()
				if wresp.Header.Revision > c.rev {
					c.setRevLocked(wresp.Header.Revision)
				}
				c.mu.Unlock()
				continue
			}
			for _, ev := range wresp.Events {
				c.process(ev)
			}
		}
	}
}

// decode returns the object a stored value holds, decrypting it first
// when the resource is encrypted at rest, in the form the cache keeps.
func (c *Cache) decode(kv *mvccpb.KeyValue) (runtime.Object, error) {
	value := kv.Value
	if c.cfg.Transformer != nil {
		var err error
		if value, _, err = etcdstore.FromStorage(c.cfg.Transformer, string(kv.Key), kv.Value); err != nil {
			return nil, err
		}
	}
	obj := c.cfg.NewObject()
	if err := etcdstore.Decode(value, kv.ModRevision, obj); err != nil {
		return nil, err
	}
	if c.cfg.Decoded != nil {
		if err := c.cfg.Decoded(obj); err != nil {
			return nil, err
		}
	}
	if c.cfg.Convert != nil {
		return c.cfg.Convert(obj)
	}
	return obj, nil
}

// process applies one etcd event to the copy and the ring and delivers it.
func (c *Cache) process(ev *clientv3.Event) {
	key := string(ev.Kv.Key)
	rev := ev.Kv.ModRevision
	c.mu.Lock()
	prev := c.store[key]
	var e *Event
	switch ev.Type {
	case clientv3.EventTypePut:
		obj, err := c.decode(ev.Kv)
		if err != nil {
			c.mu.Unlock()
			c.log.Error("skipping undecodable event", zap.String("key", key), zap.Error(err))
			return
		}
		a, err := computeAttrs(obj, c.cfg.Attrs)
		if err != nil {
			c.mu.Unlock()
			c.log.Error("skipping event without metadata", zap.String("key", key), zap.Error(err))
			return
		}
		e = &Event{Type: watch.Added, Key: key, Revision: rev, Object: obj, attrs: a}
		if prev != nil {
			e.Type = watch.Modified
			e.PrevObject = prev.obj
			e.prevAttrs = prev.attrs
		}
		c.store[key] = &entry{obj: obj, attrs: a}
	case clientv3.EventTypeDelete:
		if prev == nil {
			c.setRevLocked(rev)
			c.mu.Unlock()
			return
		}
		obj := prev.obj.DeepCopyObject()
		_ = etcdstore.SetRevision(obj, rev)
		e = &Event{Type: watch.Deleted, Key: key, Revision: rev, Object: obj, PrevObject: prev.obj, attrs: prev.attrs, prevAttrs: prev.attrs}
		delete(c.store, key)
	}
	c.appendLocked(e)
	c.setRevLocked(rev)

	type pending struct {
		w *Watcher
		d Delivery
	}
	var slow []pending
	for _, w := range c.watchers {
		d, ok := convert(e, w.pred)
		if !ok {
			continue
		}
		select {
		case w.ch <- d:
		default:
			slow = append(slow, pending{w, d})
		}
	}
	c.mu.Unlock()

	if len(slow) == 0 {
		return
	}
	// Wait a bounded time for watchers that are behind, then close the
	// ones still full: they resume from their last revision.
	timer := time.NewTimer(c.cfg.SlowWatcherBudget)
	defer timer.Stop()
	expired := false
	for _, p := range slow {
		if !expired {
			select {
			case p.w.ch <- p.d:
				continue
			case <-p.w.stopped:
				continue
			case <-timer.C:
				expired = true
			}
		}
		c.log.Info("closing slow watcher", zap.Uint64("watcher", p.w.id))
		c.terminate(p.w, "watcher too slow")
	}
}

// convert says how an event looks to a watcher with predicate p.
func convert(e *Event, p Predicate) (Delivery, bool) {
	cur := e.Type != watch.Deleted && p.matches(e.attrs)
	prev := e.PrevObject != nil && p.matches(e.prevAttrs)
	switch {
	case cur && !prev:
		return Delivery{Type: watch.Added, Object: e.Object, Revision: e.Revision, Event: e, Variant: "ADDED"}, true
	case cur && prev:
		return Delivery{Type: watch.Modified, Object: e.Object, Revision: e.Revision, Event: e, Variant: "MODIFIED"}, true
	case !cur && prev:
		if e.Type == watch.Deleted {
			return Delivery{Type: watch.Deleted, Object: e.Object, Revision: e.Revision, Event: e, Variant: "DELETED"}, true
		}
		return Delivery{Type: watch.Deleted, Object: e.prevAtRevision(), Revision: e.Revision, Event: e, Variant: "DELETED-prev"}, true
	}
	return Delivery{}, false
}

func (c *Cache) appendLocked(e *Event) {
	n := len(c.ring)
	if c.count == n {
		evicted := c.ring[c.start]
		c.oldest = evicted.Revision
		c.ring[c.start] = e
		c.start = (c.start + 1) % n
		return
	}
	c.ring[(c.start+c.count)%n] = e
	c.count++
}

func (c *Cache) setRevLocked(rev int64) {
	if rev < c.rev {
		return
	}
	c.rev = rev
	close(c.revChanged)
	c.revChanged = make(chan struct{})
}

func (c *Cache) sendBookmarks() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, w := range c.watchers {
		if !w.bookmarks {
			continue
		}
		select {
		case w.ch <- Delivery{Type: watch.Bookmark, Revision: c.rev}:
		default:
		}
	}
}

// Ready reports whether the first list has completed.
func (c *Cache) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ready
}

// Revision is the etcd revision the cache reflects.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// WatcherCount is the number of open watchers.
func (c *Cache) WatcherCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.watchers)
}

// WaitForRevision blocks until the cache is ready and reflects rev, asking
// etcd for progress while it waits. It gives up with ErrTooLarge after wait.
func (c *Cache) WaitForRevision(ctx context.Context, rev int64, wait time.Duration) error {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	asked := false
	for {
		c.mu.RLock()
		ready, cur, changed := c.ready, c.rev, c.revChanged
		c.mu.RUnlock()
		if ready && cur >= rev {
			return nil
		}
		if ready && !asked && c.cfg.RequestProgress != nil {
			asked = true
			if err := c.cfg.RequestProgress(ctx); err != nil {
				c.log.Debug("request progress", zap.Error(err))
			}
		}
		retry := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			retry.Stop()
			return ctx.Err()
		case <-deadline.C:
			retry.Stop()
			if !ready {
				return ErrNotReady
			}
			return fmt.Errorf("%w: %d (current %d)", ErrTooLarge, rev, cur)
		case <-changed:
		case <-retry.C:
			asked = false
		}
		retry.Stop()
	}
}

// List returns the cached objects p selects, sorted by key, and the
// revision they reflect.
func (c *Cache) List(p Predicate) ([]runtime.Object, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	keys := make([]string, 0, len(c.store))
	for k, e := range c.store {
		if p.matches(e.attrs) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]runtime.Object, len(keys))
	for i, k := range keys {
		out[i] = c.store[k].obj
	}
	return out, c.rev
}

// WatchOptions say where a watch starts and what it sees.
type WatchOptions struct {
	// Revision to start after. 0 starts with the current state as Added
	// events, as resourceVersion "" and "0" do in Kubernetes.
	Revision int64
	// SendInitialEvents starts with the state at a revision not older than
	// Revision, as Added events, then a bookmark marking their end.
	SendInitialEvents bool
	// AllowBookmarks sends periodic bookmarks.
	AllowBookmarks bool
	Predicate      Predicate
	// Wait bounds how long to wait for the cache to reach Revision.
	Wait time.Duration
}

// Watcher receives one client's events.
type Watcher struct {
	id        uint64
	cache     *Cache
	pred      Predicate
	bookmarks bool
	initial   []Delivery
	ch        chan Delivery // closed by the cache's event loop only
	stopped   chan struct{} // closed by Stop
	stopOnce  sync.Once

	reasonMu sync.Mutex // guards reason
	reason   string
}

// Initial returns the deliveries that precede the live ones: the state, or
// the ring's events after the requested revision.
func (w *Watcher) Initial() []Delivery { return w.initial }

// Events delivers live events; it is closed when the cache ends the watch.
func (w *Watcher) Events() <-chan Delivery { return w.ch }

// Reason says why the cache ended the watch.
func (w *Watcher) Reason() string {
	w.reasonMu.Lock()
	defer w.reasonMu.Unlock()
	return w.reason
}

// Stop unregisters the watcher; the client went away.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() {
		close(w.stopped)
		w.cache.mu.Lock()
		delete(w.cache.watchers, w.id)
		w.cache.mu.Unlock()
	})
}

// Watch registers a watcher per opts.
func (c *Cache) Watch(ctx context.Context, opts WatchOptions) (*Watcher, error) {
	wait := opts.Wait
	if wait == 0 {
		wait = 3 * time.Second
	}
	if opts.Revision > 0 || !c.Ready() {
		if err := c.WaitForRevision(ctx, opts.Revision, wait); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &Watcher{
		cache:     c,
		pred:      opts.Predicate,
		bookmarks: opts.AllowBookmarks,
		ch:        make(chan Delivery, c.cfg.WatcherBuffer),
		stopped:   make(chan struct{}),
	}
	switch {
	case opts.SendInitialEvents || opts.Revision == 0:
		w.initial = c.stateLocked(opts.Predicate)
		if opts.SendInitialEvents && opts.AllowBookmarks {
			w.initial = append(w.initial, Delivery{Type: watch.Bookmark, Revision: c.rev, InitialEventsEnd: true})
		}
	default:
		if opts.Revision < c.oldest {
			return nil, &ExpiredError{Requested: opts.Revision, Oldest: c.oldest}
		}
		w.initial = c.sinceLocked(opts.Revision, opts.Predicate)
	}
	c.nextID++
	w.id = c.nextID
	c.watchers[w.id] = w
	return w, nil
}

func (c *Cache) stateLocked(p Predicate) []Delivery {
	keys := make([]string, 0, len(c.store))
	for k, e := range c.store {
		if p.matches(e.attrs) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]Delivery, len(keys))
	for i, k := range keys {
		obj := c.store[k].obj
		out[i] = Delivery{Type: watch.Added, Object: obj, Revision: revisionOf(obj)}
	}
	return out
}

func (c *Cache) sinceLocked(rev int64, p Predicate) []Delivery {
	n := len(c.ring)
	// The ring is sorted by revision: find the first event after rev.
	i := sort.Search(c.count, func(i int) bool { return c.ring[(c.start+i)%n].Revision > rev })
	var out []Delivery
	for ; i < c.count; i++ {
		if d, ok := convert(c.ring[(c.start+i)%n], p); ok {
			out = append(out, d)
		}
	}
	return out
}

func (c *Cache) terminate(w *Watcher, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.terminateLocked(w, reason)
}

func (c *Cache) terminateLocked(w *Watcher, reason string) {
	if _, ok := c.watchers[w.id]; !ok {
		return
	}
	delete(c.watchers, w.id)
	w.reasonMu.Lock()
	w.reason = reason
	w.reasonMu.Unlock()
	close(w.ch)
}

func (c *Cache) closeAll(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeAllLocked(reason)
}

func (c *Cache) closeAllLocked(reason string) {
	for _, w := range c.watchers {
		c.terminateLocked(w, reason)
	}
}

func revisionOf(obj runtime.Object) int64 {
	type rv interface{ GetResourceVersion() string }
	if m, ok := obj.(rv); ok {
		n, _ := etcdstore.ParseRevision(m.GetResourceVersion())
		return n
	}
	return 0
}

// Get returns a copy of the cached object at key, or nil when the cache
// has none (or has not listed yet). The copy may be behind etcd: callers
// write with it only under a revision check.
func (c *Cache) Get(key string) runtime.Object {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.ready {
		return nil
	}
	e, ok := c.store[key]
	if !ok {
		return nil
	}
	return e.obj.DeepCopyObject()
}
