// Package queue is the scheduling queue: pods waiting for a node, handed
// to the scheduling loop one at a time, highest priority first, then
// oldest.
//
// A pod is in exactly one place:
//
//	             Add                    Pop
//	informer ──────────► activeQ ─────────────► in flight (being scheduled)
//	                       ▲  ▲                   │            │
//	     back-off expired  │  │ cluster event     │ no fit     │ error, or an event
//	                       │  │ that may help     ▼            │ it may have missed
//	                   backoffQ ◄──────── unschedulable ◄──────┘──► backoffQ
//
// Pods that fit nowhere wait in unschedulable until a cluster event that
// one of the plugins that rejected them registered for (a node added or
// changed, a pod deleted) moves them back, through the back-off queue if
// their back-off (1s doubling to 10s by default) has not expired. Nothing
// polls: a timer fires at the next back-off expiry, and a slow sweep
// retries pods that waited five minutes, as Kubernetes does.
package queue

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"coracle.dev/scheduler/internal/framework"
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue closed")

// Defaults, as Kubernetes'.
const (
	DefaultInitialBackoff            = time.Second
	DefaultMaxBackoff                = 10 * time.Second
	DefaultMaxInUnschedulable        = 5 * time.Minute
	unschedulableFlushPeriod         = 30 * time.Second
	schedulingGatesPlugin     string = "SchedulingGates"
)

// QueuedPodInfo is a pod in the queue and its scheduling history.
type QueuedPodInfo struct {
	*framework.PodInfo
	key string
	seq uint64
	// Timestamp is when the pod last entered a queue.
	Timestamp time.Time
	// InitialAttemptTimestamp is when the pod first entered the queue.
	InitialAttemptTimestamp time.Time
	// Attempts counts scheduling attempts.
	Attempts int
	// UnschedulablePlugins rejected the pod in its last attempt.
	UnschedulablePlugins map[string]bool
	// Gated pods have scheduling gates and are not tried until they lift.
	Gated bool
}

// Key is namespace/name.
func (q *QueuedPodInfo) Key() string { return q.key }

// Options configure a Queue.
type Options struct {
	Clock              clock.WithTicker
	InitialBackoff     time.Duration
	MaxBackoff         time.Duration
	MaxInUnschedulable time.Duration
	// EventsByPlugin are the cluster events each plugin registered for
	// (framework.Framework.ClusterEventsByPlugin).
	EventsByPlugin map[string][]framework.ClusterEvent
}

// inFlight is a popped pod whose attempt has not ended, and what happened
// meanwhile that its attempt could not see.
type inFlight struct {
	updated bool
	events  map[framework.EventResource]framework.ActionType
}

// Queue is the scheduling queue. It is safe for concurrent use.
type Queue struct {
	opts Options

	mu            sync.Mutex // guards everything below
	cond          *sync.Cond // signalled when activeQ gains a pod or the queue closes
	active        *podHeap
	backoff       *podHeap
	unschedulable map[string]*QueuedPodInfo
	inFlight      map[string]*inFlight
	seq           uint64
	closed        bool

	// wake nudges the back-off timer when backoffQ changes.
	wake chan struct{}
}

// New returns an empty queue.
func New(opts Options) *Queue {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = DefaultInitialBackoff
	}
	if opts.MaxBackoff < opts.InitialBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.InitialBackoff)
	}
	if opts.MaxInUnschedulable <= 0 {
		opts.MaxInUnschedulable = DefaultMaxInUnschedulable
	}
	q := &Queue{
		opts:          opts,
		unschedulable: map[string]*QueuedPodInfo{},
		inFlight:      map[string]*inFlight{},
		wake:          make(chan struct{}, 1),
	}
	q.cond = sync.NewCond(&q.mu)
	q.active = newPodHeap(activeLess)
	q.backoff = newPodHeap(func(a, b *QueuedPodInfo) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) })
	return q
}

// activeLess orders by priority (highest first), then age: creation time,
// then the order the queue first saw the pods (creation timestamps have
// one-second resolution).
func activeLess(a, b *QueuedPodInfo) bool {
	pa, pb := a.Priority(), b.Priority()
	if pa != pb {
		return pa > pb
	}
	ca, cb := a.Pod.CreationTimestamp.Time, b.Pod.CreationTimestamp.Time
	if !ca.Equal(cb) {
		return ca.Before(cb)
	}
	return a.seq < b.seq
}

// backoffDuration doubles from InitialBackoff with each attempt, up to
// MaxBackoff.
func (q *Queue) backoffDuration(p *QueuedPodInfo) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < p.Attempts; i++ {
		d *= 2
		if d >= q.opts.MaxBackoff {
			return q.opts.MaxBackoff
		}
	}
	return d
}

func (q *Queue) backoffExpiry(p *QueuedPodInfo) time.Time {
	return p.Timestamp.Add(q.backoffDuration(p))
}

func (q *Queue) isBackingOff(p *QueuedPodInfo) bool {
	return p.Attempts > 0 && q.opts.Clock.Now().Before(q.backoffExpiry(p))
}

// Run moves pods whose back-off expired to activeQ, and sweeps pods that
// waited too long in unschedulable, until ctx ends.
func (q *Queue) Run(ctx context.Context) {
	go q.runUnschedulableSweep(ctx)
	for {
		q.mu.Lock()
		q.flushBackoffLocked()
		var next time.Time
		if p := q.backoff.peek(); p != nil {
			next = q.backoffExpiry(p)
		}
		q.mu.Unlock()
		var timerC <-chan time.Time
		var timer clock.Timer
		if !next.IsZero() {
			timer = q.opts.Clock.NewTimer(max(next.Sub(q.opts.Clock.Now()), time.Millisecond))
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-q.wake:
		case <-timerC:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (q *Queue) runUnschedulableSweep(ctx context.Context) {
	t := q.opts.Clock.NewTicker(unschedulableFlushPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			q.mu.Lock()
			now := q.opts.Clock.Now()
			for key, p := range q.unschedulable {
				if !p.Gated && now.Sub(p.Timestamp) > q.opts.MaxInUnschedulable {
					delete(q.unschedulable, key)
					q.requeueLocked(p)
				}
			}
			q.mu.Unlock()
		}
	}
}

func (q *Queue) flushBackoffLocked() {
	moved := false
	for {
		p := q.backoff.peek()
		if p == nil || q.isBackingOff(p) {
			break
		}
		q.backoff.pop()
		q.active.addOrUpdate(p)
		moved = true
	}
	if moved {
		q.cond.Broadcast()
	}
}

func (q *Queue) nudge() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// requeueLocked puts p in activeQ, or in backoffQ while it backs off.
func (q *Queue) requeueLocked(p *QueuedPodInfo) {
	if q.isBackingOff(p) {
		q.backoff.addOrUpdate(p)
		q.nudge()
		return
	}
	q.active.addOrUpdate(p)
	q.cond.Broadcast()
}

func (q *Queue) newQueued(pod *v1.Pod) *QueuedPodInfo {
	q.seq++
	now := q.opts.Clock.Now()
	return &QueuedPodInfo{
		PodInfo: framework.NewPodInfo(pod), key: framework.PodKey(pod), seq: q.seq,
		Timestamp: now, InitialAttemptTimestamp: now,
		Gated: len(pod.Spec.SchedulingGates) > 0,
	}
}

// Add queues a pod the informer reports new and unscheduled.
func (q *Queue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := framework.PodKey(pod)
	if q.findLocked(key) != nil || q.inFlight[key] != nil {
		q.updateLocked(pod)
		return
	}
	p := q.newQueued(pod)
	if p.Gated {
		p.UnschedulablePlugins = map[string]bool{schedulingGatesPlugin: true}
		q.unschedulable[key] = p
		return
	}
	q.active.addOrUpdate(p)
	q.cond.Broadcast()
}

// Update replaces a queued pod's object with its new version. A waiting
// pod whose spec or labels changed may now fit, so it is retried; a
// status-only change (the scheduler's own condition) leaves it waiting.
func (q *Queue) Update(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.updateLocked(pod)
}

func (q *Queue) updateLocked(pod *v1.Pod) {
	key := framework.PodKey(pod)
	if f := q.inFlight[key]; f != nil {
		f.updated = true
		return
	}
	if p, ok := q.active.get(key); ok {
		q.active.addOrUpdate(q.refreshed(p, pod))
		return
	}
	if p, ok := q.backoff.get(key); ok {
		q.backoff.addOrUpdate(q.refreshed(p, pod))
		return
	}
	if p, ok := q.unschedulable[key]; ok {
		np := q.refreshed(p, pod)
		if p.Gated {
			if np.Gated = len(pod.Spec.SchedulingGates) > 0; !np.Gated {
				delete(q.unschedulable, key)
				np.UnschedulablePlugins = nil
				q.active.addOrUpdate(np)
				q.cond.Broadcast()
				return
			}
			q.unschedulable[key] = np
			return
		}
		if specChanged(p.Pod, pod) {
			delete(q.unschedulable, key)
			q.requeueLocked(np)
			return
		}
		q.unschedulable[key] = np
		return
	}
	// Not queued (deleted and re-added under the same name, or a pod that
	// stopped being assigned): queue it anew.
	p := q.newQueued(pod)
	if p.Gated {
		p.UnschedulablePlugins = map[string]bool{schedulingGatesPlugin: true}
		q.unschedulable[key] = p
		return
	}
	q.active.addOrUpdate(p)
	q.cond.Broadcast()
}

// refreshed is p with pod's new version; history is kept.
func (q *Queue) refreshed(p *QueuedPodInfo, pod *v1.Pod) *QueuedPodInfo {
	np := *p
	if pod.UID != p.Pod.UID {
		np.Attempts, np.UnschedulablePlugins = 0, nil
	}
	np.PodInfo = framework.NewPodInfo(pod)
	return &np
}

// specChanged reports whether anything but status and bookkeeping changed.
func specChanged(old, cur *v1.Pod) bool {
	if old.UID != cur.UID {
		return true
	}
	return !reflect.DeepEqual(old.Spec, cur.Spec) || !reflect.DeepEqual(old.Labels, cur.Labels) ||
		!reflect.DeepEqual(old.Annotations, cur.Annotations)
}

// Delete forgets a pod (deleted, or bound by someone).
func (q *Queue) Delete(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := framework.PodKey(pod)
	q.active.delete(key)
	q.backoff.delete(key)
	delete(q.unschedulable, key)
}

func (q *Queue) findLocked(key string) *QueuedPodInfo {
	if p, ok := q.active.get(key); ok {
		return p
	}
	if p, ok := q.backoff.get(key); ok {
		return p
	}
	return q.unschedulable[key]
}

// Pop blocks until a pod is ready to be scheduled and returns it, now in
// flight; ErrClosed once the queue is closed. Every popped pod must end
// with Done or AddUnschedulableIfNotPresent.
func (q *Queue) Pop() (*QueuedPodInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, ErrClosed
	}
	p := q.active.pop()
	p.Attempts++
	q.inFlight[p.key] = &inFlight{}
	return p, nil
}

// Done ends the attempt of a pod that was scheduled (assumed).
func (q *Queue) Done(p *QueuedPodInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, p.key)
}

// AddUnschedulableIfNotPresent ends an attempt that failed: p (with pod,
// its latest version) waits in unschedulable, or goes to backoffQ when the
// failure was an error or when something happened during the attempt that
// might have changed its outcome. A pod queued again meanwhile (by an
// informer event) stays where it is.
func (q *Queue) AddUnschedulableIfNotPresent(p *QueuedPodInfo, pod *v1.Pod, isError bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f := q.inFlight[p.key]
	delete(q.inFlight, p.key)
	if q.findLocked(p.key) != nil {
		return
	}
	np := q.refreshed(p, pod)
	np.Timestamp = q.opts.Clock.Now()
	if isError || (f != nil && (f.updated || q.eventsMayHelpLocked(np, f.events))) {
		q.backoff.addOrUpdate(np)
		q.nudge()
		return
	}
	q.unschedulable[np.key] = np
}

// MoveAllToActiveOrBackoffQueue retries the waiting pods that ev may help:
// those rejected by a plugin that registered for ev (or by none in
// particular). Pods in flight note the event, so that their attempt, if
// it fails, is retried too.
func (q *Queue) MoveAllToActiveOrBackoffQueue(ev framework.ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range q.inFlight {
		if f.events == nil {
			f.events = map[framework.EventResource]framework.ActionType{}
		}
		f.events[ev.Resource] |= ev.ActionType
	}
	for key, p := range q.unschedulable {
		if p.Gated || !q.podMatchesEvent(p, ev) {
			continue
		}
		delete(q.unschedulable, key)
		q.requeueLocked(p)
	}
}

func (q *Queue) eventsMayHelpLocked(p *QueuedPodInfo, events map[framework.EventResource]framework.ActionType) bool {
	for res, actions := range events {
		if q.podMatchesEvent(p, framework.ClusterEvent{Resource: res, ActionType: actions}) {
			return true
		}
	}
	return false
}

func (q *Queue) podMatchesEvent(p *QueuedPodInfo, ev framework.ClusterEvent) bool {
	if ev.Resource == framework.WildCard {
		return true
	}
	if len(p.UnschedulablePlugins) == 0 {
		return true
	}
	for name := range p.UnschedulablePlugins {
		for _, reg := range q.opts.EventsByPlugin[name] {
			if reg.Match(ev) {
				return true
			}
		}
	}
	return false
}

// Pending counts the pods in each sub-queue.
func (q *Queue) Pending() (active, backoff, unschedulable, gated int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.unschedulable {
		if p.Gated {
			gated++
		}
	}
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable) - gated, gated
}

// Close wakes Pop, which returns ErrClosed from then on.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Contains reports whether pod is queued (not in flight); for tests.
func (q *Queue) Contains(pod *v1.Pod) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.findLocked(framework.PodKey(pod)) != nil
}

// Where says which sub-queue holds pod ("active", "backoff",
// "unschedulable", "inflight" or ""); for tests.
func (q *Queue) Where(pod *v1.Pod) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := framework.PodKey(pod)
	switch {
	case q.inFlight[key] != nil:
		return "inflight"
	case q.unschedulable[key] != nil:
		return "unschedulable"
	}
	if _, ok := q.active.get(key); ok {
		return "active"
	}
	if _, ok := q.backoff.get(key); ok {
		return "backoff"
	}
	return ""
}

// FlushBackoffForTest moves pods whose back-off has expired to activeQ
// now, as Run's timer would; tests with a fake clock call it.
func (q *Queue) FlushBackoffForTest() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.flushBackoffLocked()
}
