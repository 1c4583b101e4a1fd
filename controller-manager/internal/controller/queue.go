package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"coracle.dev/controller-manager/internal/metrics"
)

// SyncFunc reconciles one key. It returns an error to be retried with
// back-off; it asks for a later look itself with Queue.AddAfter.
type SyncFunc[K comparable] func(ctx context.Context, key K) error

// ErrWaiting, wrapped into a sync's error, says the key waits for
// something outside the controller rather than failed: it is retried
// with back-off as after any error, but logged at debug level and not
// counted among the reconcile errors. Kubernetes' certificate
// controller treats its approver's "not allowed (yet)" so.
var ErrWaiting = errors.New("waiting")

// QueueOptions configure a queue.
type QueueOptions struct {
	// Name names the controller in logs and metrics.
	Name string
	// Metrics, if set, receives the queue's and the reconciles' metrics.
	Metrics *metrics.Metrics
	// Clock drives delayed adds; nil means the real clock.
	Clock clock.WithTicker
	// Log is the controller's logger.
	Log *zap.Logger
	// BaseDelay and MaxDelay bound the per-key exponential back-off;
	// zero means 5ms and 1000s, client-go's defaults.
	BaseDelay, MaxDelay time.Duration
}

// Queue is a controller's work queue of keys: a rate-limited queue,
// filled by event handlers, drained by workers that call the controller's
// sync function for one key at a time. A key is never handed to two
// workers at once; a sync that fails is retried with exponential
// back-off, one that succeeds resets the back-off.
type Queue[K comparable] struct {
	name    string
	q       workqueue.TypedRateLimitingInterface[K]
	metrics *metrics.Metrics
	log     *zap.Logger
}

// NewQueue returns an empty queue.
func NewQueue[K comparable](o QueueOptions) *Queue[K] {
	base, max := o.BaseDelay, o.MaxDelay
	if base == 0 {
		base = 5 * time.Millisecond
	}
	if max == 0 {
		max = 1000 * time.Second
	}
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[K](base, max)
	cfg := workqueue.TypedRateLimitingQueueConfig[K]{Name: o.Name, Clock: o.Clock}
	if o.Metrics != nil {
		cfg.MetricsProvider = o.Metrics
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Queue[K]{
		name:    o.Name,
		q:       workqueue.NewTypedRateLimitingQueueWithConfig(limiter, cfg),
		metrics: o.Metrics,
		log:     log,
	}
}

// Add queues key now.
func (q *Queue[K]) Add(key K) { q.q.Add(key) }

// AddAfter queues key after d.
func (q *Queue[K]) AddAfter(key K, d time.Duration) {
	if d <= 0 {
		q.q.Add(key)
		return
	}
	q.q.AddAfter(key, d)
}

// Len is the number of keys waiting.
func (q *Queue[K]) Len() int { return q.q.Len() }

// ShutDown stops the queue; Run returns once the workers finish.
func (q *Queue[K]) ShutDown() { q.q.ShutDown() }

// Run starts workers that drain the queue with sync, and blocks until ctx
// ends; then it shuts the queue down and waits for the workers.
func (q *Queue[K]) Run(ctx context.Context, workers int, syncFn SyncFunc[K]) {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q.processNext(ctx, syncFn) {
			}
		}()
	}
	<-ctx.Done()
	q.q.ShutDown()
	wg.Wait()
}

func (q *Queue[K]) processNext(ctx context.Context, sync SyncFunc[K]) bool {
	key, quit := q.q.Get()
	if quit {
		return false
	}
	defer q.q.Done(key)
	start := time.Now()
	err := sync(ctx, key)
	if q.metrics != nil {
		q.metrics.ReconcileDuration.WithLabelValues(q.name).Observe(time.Since(start).Seconds())
	}
	if err == nil {
		q.q.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true
	}
	if errors.Is(err, ErrWaiting) {
		q.log.Debug("reconcile waiting; retrying", zap.Any("key", key), zap.Int("retries", q.q.NumRequeues(key)), zap.Error(err))
		q.q.AddRateLimited(key)
		return true
	}
	if q.metrics != nil {
		q.metrics.ReconcileErrors.WithLabelValues(q.name).Inc()
	}
	q.log.Info("reconcile failed; retrying", zap.Any("key", key), zap.Int("retries", q.q.NumRequeues(key)), zap.Error(err))
	q.q.AddRateLimited(key)
	return true
}
