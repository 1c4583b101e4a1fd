// Package scheduler is the scheduling loop: informer handlers keep the
// cache and the queue current; one goroutine pops a pod, decides its node
// (algorithm, over a snapshot), counts it there at once (assume) and hands
// the binding to a goroutine of its own, so the next pod is decided while
// the previous binding is in flight. A failed binding un-assumes the pod
// and requeues it. A pod that fits nowhere may preempt, gets a
// FailedScheduling event and a PodScheduled=False condition, and waits in
// the queue for a cluster event that may help.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"coracle.dev/scheduler/internal/algorithm"
	"coracle.dev/scheduler/internal/binder"
	"coracle.dev/scheduler/internal/cache"
	"coracle.dev/scheduler/internal/framework"
	"coracle.dev/scheduler/internal/metrics"
	"coracle.dev/scheduler/internal/plugins"
	"coracle.dev/scheduler/internal/preemption"
	"coracle.dev/scheduler/internal/queue"
)

// Defaults.
const (
	DefaultSchedulerName   = v1.DefaultSchedulerName
	DefaultParallelism     = 16
	DefaultBindConcurrency = 64
	DefaultAssumedPodTTL   = 15 * time.Minute
	cacheCleanupPeriod     = time.Second
)

// Config is what a Scheduler needs; the app package fills it.
type Config struct {
	Client          kubernetes.Interface
	InformerFactory informers.SharedInformerFactory
	Recorder        record.EventRecorder
	Metrics         *metrics.Metrics
	Log             *zap.Logger
	Clock           clock.WithTicker

	SchedulerName            string
	PercentageOfNodesToScore int32
	Parallelism              int
	// BindConcurrency bounds the bindings in flight; when they are all
	// busy, the scheduling loop waits (back-pressure on the API).
	BindConcurrency   int
	PodInitialBackoff time.Duration
	PodMaxBackoff     time.Duration
	AssumedPodTTL     time.Duration
	// Seed fixes random tie-breaking (tests); 0 is random.
	Seed uint64
	// PluginArgs are the plugins' arguments; zero values are defaults.
	PluginArgs plugins.Args
}

// Scheduler is one scheduler profile's loop.
type Scheduler struct {
	cfg       Config
	log       *zap.Logger
	cache     *cache.Cache
	snapshot  *cache.Snapshot
	queue     *queue.Queue
	nominator *queue.Nominator
	fwk       *framework.Framework
	algo      *algorithm.Algorithm
	preempt   *preemption.Evaluator
	actuator  *preemption.Actuator
	binder    *binder.Binder
	podLister corelisters.PodLister
	informers []toolscache.InformerSynced

	bindSlots chan struct{}
	inflight  sync.WaitGroup // bindings and status writes in flight
}

// New builds the scheduler and registers its informer handlers; the
// caller starts the informer factory.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Client == nil || cfg.InformerFactory == nil || cfg.Recorder == nil || cfg.Metrics == nil {
		return nil, errors.New("scheduler: Client, InformerFactory, Recorder and Metrics are required")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.SchedulerName == "" {
		cfg.SchedulerName = DefaultSchedulerName
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = DefaultParallelism
	}
	if cfg.BindConcurrency <= 0 {
		cfg.BindConcurrency = DefaultBindConcurrency
	}
	if cfg.AssumedPodTTL == 0 {
		cfg.AssumedPodTTL = DefaultAssumedPodTTL
	}
	f := cfg.InformerFactory
	podInformer, nodeInformer := f.Core().V1().Pods(), f.Core().V1().Nodes()
	listers := framework.Listers{
		Namespaces:   f.Core().V1().Namespaces().Lister(),
		Services:     f.Core().V1().Services().Lister(),
		ReplicaSets:  f.Apps().V1().ReplicaSets().Lister(),
		StatefulSets: f.Apps().V1().StatefulSets().Lister(),
	}
	s := &Scheduler{
		cfg: cfg, log: cfg.Log,
		cache:     cache.New(cfg.AssumedPodTTL, cfg.Clock),
		snapshot:  cache.NewEmptySnapshot(),
		nominator: queue.NewNominator(),
		binder:    binder.New(cfg.Client),
		podLister: podInformer.Lister(),
		bindSlots: make(chan struct{}, cfg.BindConcurrency),
	}
	reg, err := plugins.NewRegistryWithArgs(cfg.PluginArgs)
	if err != nil {
		return nil, err
	}
	s.fwk, err = framework.New(reg, framework.Options{
		Plugins: plugins.DefaultProfile(), Snapshot: s.snapshot, Listers: listers,
		Nominator: s.nominator, Parallelism: cfg.Parallelism,
		Client: cfg.Client, InformerFactory: f,
	})
	if err != nil {
		return nil, err
	}
	s.algo = algorithm.New(s.fwk, cfg.PercentageOfNodesToScore, cfg.Seed)
	s.preempt = preemption.NewEvaluator(s.fwk, cfg.Seed)
	s.actuator = &preemption.Actuator{Binder: s.binder, Recorder: cfg.Recorder, Nominator: s.nominator,
		SchedulerName: cfg.SchedulerName, Log: cfg.Log}
	s.queue = queue.New(queue.Options{
		Clock: cfg.Clock, InitialBackoff: cfg.PodInitialBackoff, MaxBackoff: cfg.PodMaxBackoff,
		EventsByPlugin: s.fwk.ClusterEventsByPlugin(),
	})
	if err := s.addEventHandlers(podInformer.Informer(), nodeInformer.Informer()); err != nil {
		return nil, err
	}
	// Volume binding decides on claims, volumes and classes, so pods it
	// rejected wait for changes to those.
	storage := []toolscache.SharedIndexInformer{
		f.Core().V1().PersistentVolumeClaims().Informer(), f.Core().V1().PersistentVolumes().Informer(),
		f.Storage().V1().StorageClasses().Informer(),
	}
	if err := s.addStorageEventHandlers(storage[0], storage[1], storage[2]); err != nil {
		return nil, err
	}
	s.informers = []toolscache.InformerSynced{
		podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced,
		f.Core().V1().Namespaces().Informer().HasSynced, f.Core().V1().Services().Informer().HasSynced,
		f.Apps().V1().ReplicaSets().Informer().HasSynced, f.Apps().V1().StatefulSets().Informer().HasSynced,
	}
	for _, inf := range storage {
		s.informers = append(s.informers, inf.HasSynced)
	}
	return s, nil
}

// HasSynced reports whether every informer has listed once.
func (s *Scheduler) HasSynced() bool {
	for _, synced := range s.informers {
		if !synced() {
			return false
		}
	}
	return true
}

// Pending counts the pods in each sub-queue, for metrics.
func (s *Scheduler) Pending() map[string]int {
	a, b, u, g := s.queue.Pending()
	return map[string]int{"active": a, "backoff": b, "unschedulable": u, "gated": g}
}

// Run schedules until ctx ends, then waits for the bindings in flight.
// The informers must have synced.
func (s *Scheduler) Run(ctx context.Context) {
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); s.queue.Run(ctx) }()
	go func() { defer bg.Done(); s.cleanupAssumed(ctx) }()
	go func() { <-ctx.Done(); s.queue.Close() }()
	for s.scheduleOne(ctx) {
	}
	bg.Wait()
	s.inflight.Wait()
}

func (s *Scheduler) cleanupAssumed(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(cacheCleanupPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			for _, p := range s.cache.CleanupExpired() {
				s.log.Warn("assumed pod expired: its binding was never confirmed", zap.String("pod", framework.PodKey(p)), zap.String("node", p.Spec.NodeName))
			}
		}
	}
}

// scheduleOne runs one scheduling cycle; false once the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	qpi, err := s.queue.Pop()
	if err != nil {
		return false
	}
	if ctx.Err() != nil {
		s.queue.Done(qpi)
		return false
	}
	pod := qpi.Pod
	if pod.DeletionTimestamp != nil || s.cache.IsAssumed(pod) {
		s.queue.Done(qpi)
		return true
	}
	start := s.cfg.Clock.Now()
	s.cache.UpdateSnapshot(s.snapshot)
	state := framework.NewCycleState()
	res, err := s.algo.Schedule(ctx, state, qpi.PodInfo)
	if err != nil {
		s.handleScheduleError(ctx, qpi, state, err, start)
		return true
	}

	// Assume: count the pod on its node now, so the next cycle sees the
	// room it takes even though the binding has not happened yet.
	// A shallow copy: the scheduler never mutates pods, so sharing the
	// informer's maps and slices is safe and saves a deep copy per pod.
	shallow := *pod
	assumed := &shallow
	assumed.Spec.NodeName = res.SuggestedHost
	api := *qpi.PodInfo
	api.Pod = assumed
	if err := s.cache.AssumePod(&api); err != nil {
		s.log.Error("could not assume pod", zap.String("pod", qpi.Key()), zap.Error(err))
		s.recordFailure(qpi, err, true, nil)
		return true
	}
	// Reserve: plugins set aside what the pod takes on the node (the
	// volumes chosen for its claims) before the next cycle decides.
	if st := s.fwk.RunReservePluginsReserve(ctx, state, &api, res.SuggestedHost); !st.IsSuccess() {
		s.fwk.RunReservePluginsUnreserve(ctx, state, &api, res.SuggestedHost)
		if ferr := s.cache.ForgetPod(assumed); ferr != nil {
			s.log.Debug("forget pod", zap.String("pod", qpi.Key()), zap.Error(ferr))
		}
		s.log.Warn("reserve failed", zap.String("pod", qpi.Key()), zap.String("node", res.SuggestedHost), zap.Error(st.AsError()))
		s.cfg.Metrics.ScheduleAttempts.WithLabelValues(metrics.ResultError).Inc()
		s.recordFailure(qpi, st.AsError(), !st.IsRejected(), nil)
		return true
	}
	s.nominator.Delete(pod)
	s.queue.Done(qpi)
	s.cfg.Metrics.ScheduleAttempts.WithLabelValues(metrics.ResultScheduled).Inc()
	s.cfg.Metrics.AttemptDuration.WithLabelValues(metrics.ResultScheduled).Observe(s.cfg.Clock.Since(start).Seconds())
	s.log.Debug("pod assumed", zap.String("pod", qpi.Key()), zap.String("node", res.SuggestedHost),
		zap.Int("evaluated", res.EvaluatedNodes), zap.Int("feasible", res.FeasibleNodes))

	select {
	case s.bindSlots <- struct{}{}:
	case <-ctx.Done():
		s.fwk.RunReservePluginsUnreserve(ctx, state, &api, res.SuggestedHost)
		_ = s.cache.ForgetPod(assumed)
		return false
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		s.bind(ctx, qpi, state, &api)
	}()
	return true
}

// bind is the binding cycle of one assumed pod, started holding a bind
// slot: PreBind (which may wait long, for volumes to be provisioned and
// bound), then the binding itself. The slot is handed back during
// PreBind, so pods waiting for their volumes never hold up the others'
// bindings. A failure of either un-reserves and forgets the pod and sends
// it back to the queue.
func (s *Scheduler) bind(ctx context.Context, qpi *queue.QueuedPodInfo, state *framework.CycleState, pi *framework.PodInfo) {
	assumed := pi.Pod
	node := assumed.Spec.NodeName
	start := s.cfg.Clock.Now()
	<-s.bindSlots
	var err error
	if st := s.fwk.RunPreBindPlugins(ctx, state, pi, node); !st.IsSuccess() {
		err = st.AsError()
	} else {
		select {
		case s.bindSlots <- struct{}{}:
			if err = s.binder.Bind(ctx, assumed, node); err != nil {
				err = fmt.Errorf("Binding rejected: %w", err)
			}
			<-s.bindSlots
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	s.cfg.Metrics.BindingDuration.Observe(s.cfg.Clock.Since(start).Seconds())
	if err != nil {
		s.fwk.RunReservePluginsUnreserve(ctx, state, pi, node)
		if ferr := s.cache.ForgetPod(assumed); ferr != nil {
			s.log.Debug("forget pod", zap.String("pod", qpi.Key()), zap.Error(ferr))
		}
		// The room the pod held is free again for the pods waiting for it.
		s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodDel)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("binding failed", zap.String("pod", qpi.Key()), zap.String("node", node), zap.Error(err))
		s.cfg.Metrics.ScheduleAttempts.WithLabelValues(metrics.ResultError).Inc()
		s.recordFailure(qpi, err, true, nil)
		return
	}
	s.cache.FinishBinding(assumed)
	s.cfg.Metrics.E2ESchedulingDuration.Observe(s.cfg.Clock.Since(qpi.InitialAttemptTimestamp).Seconds())
	s.cfg.Metrics.PodSchedulingAttempts.Observe(float64(qpi.Attempts))
	s.cfg.Recorder.Eventf(assumed, v1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", assumed.Namespace, assumed.Name, node)
	s.log.Debug("pod bound", zap.String("pod", qpi.Key()), zap.String("node", node))
}

// handleScheduleError: preempt if that can help, then record the failure.
func (s *Scheduler) handleScheduleError(ctx context.Context, qpi *queue.QueuedPodInfo, state *framework.CycleState, err error, start time.Time) {
	var fitErr *framework.FitError
	if !errors.As(err, &fitErr) {
		s.log.Error("scheduling attempt failed", zap.String("pod", qpi.Key()), zap.Error(err))
		s.cfg.Metrics.ScheduleAttempts.WithLabelValues(metrics.ResultError).Inc()
		s.cfg.Metrics.AttemptDuration.WithLabelValues(metrics.ResultError).Observe(s.cfg.Clock.Since(start).Seconds())
		s.recordFailure(qpi, err, true, nil)
		return
	}
	qpi.UnschedulablePlugins = fitErr.Diagnosis.UnschedulablePlugins
	var nominate *string
	if fitErr.NumAllNodes > 0 {
		nominate = s.tryPreempt(ctx, qpi, state, fitErr)
	}
	s.cfg.Metrics.ScheduleAttempts.WithLabelValues(metrics.ResultUnschedulable).Inc()
	s.cfg.Metrics.AttemptDuration.WithLabelValues(metrics.ResultUnschedulable).Observe(s.cfg.Clock.Since(start).Seconds())
	s.log.Debug("pod fits no node", zap.String("pod", qpi.Key()), zap.String("reason", fitErr.Error()))
	s.recordFailure(qpi, fitErr, false, nominate)
}

// tryPreempt returns the nominated node to record: a node (preemption
// done), "" (clear a stale nomination) or nil (leave it).
func (s *Scheduler) tryPreempt(ctx context.Context, qpi *queue.QueuedPodInfo, state *framework.CycleState, fitErr *framework.FitError) *string {
	// Decide on the pod's latest version: its status may carry a
	// nomination the queued copy does not.
	pi := qpi.PodInfo
	if cur, err := s.podLister.Pods(qpi.Pod.Namespace).Get(qpi.Pod.Name); err == nil && cur.UID == qpi.Pod.UID {
		// Same UID, so the same (immutable) spec: keep what was derived.
		latest := *qpi.PodInfo
		latest.Pod = cur
		pi = &latest
	}
	nominated := s.nominator.NominatedNode(pi.Pod)
	if nominated == "" {
		nominated = pi.Pod.Status.NominatedNodeName
	}
	cand, msg := s.preempt.FindCandidate(ctx, state, pi, nominated, fitErr.Diagnosis.NodeToStatus)
	if cand == nil {
		fitErr.Diagnosis.PostFilterMsg = msg
		if msg == "preemption: "+preemption.MsgPolicyNever || msg == "preemption: "+preemption.MsgTerminatingOnNode {
			return nil
		}
		empty := ""
		if nominated != "" {
			s.nominator.Delete(pi.Pod)
		}
		return &empty
	}
	if err := s.actuator.Apply(ctx, pi.Pod, cand); err != nil {
		s.log.Warn("preemption failed", zap.String("pod", qpi.Key()), zap.Error(err))
		return nil
	}
	s.cfg.Metrics.PreemptionAttempts.Inc()
	s.cfg.Metrics.PreemptionVictims.Observe(float64(len(cand.Victims)))
	s.log.Info("preempted pods to make room", zap.String("pod", qpi.Key()), zap.String("node", cand.Node), zap.Int("victims", len(cand.Victims)))
	s.nominator.Add(pi, cand.Node)
	node := cand.Node
	return &node
}

// recordFailure ends a failed attempt: it puts the pod back in the queue
// (its latest version; not at all if it was deleted or bound meanwhile) —
// straight to back-off when isError (a binding or plugin error rather than
// a fit) — records a FailedScheduling event and writes the
// PodScheduled=False condition (reason Unschedulable, or SchedulerError
// for errors) and the nomination.
func (s *Scheduler) recordFailure(qpi *queue.QueuedPodInfo, err error, isError bool, nominate *string) {
	cur, gerr := s.podLister.Pods(qpi.Pod.Namespace).Get(qpi.Pod.Name)
	if gerr != nil || cur.UID != qpi.Pod.UID || cur.Spec.NodeName != "" {
		s.queue.Done(qpi)
		return
	}
	s.queue.AddUnschedulableIfNotPresent(qpi, cur, isError)
	msg := err.Error()
	reason := v1.PodReasonUnschedulable
	if isError {
		reason = v1.PodReasonSchedulerError
	}
	s.cfg.Recorder.Event(cur, v1.EventTypeWarning, "FailedScheduling", msg)
	update := binder.StatusUpdate{
		Condition:         v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg},
		NominatedNodeName: nominate,
	}
	if _, changed := binder.NewStatus(cur, update, cur.CreationTimestamp); !changed {
		return
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		// Not the scheduling context: a status write that has started
		// finishes even as the scheduler stops.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.binder.UpdateStatus(ctx, cur, update); err != nil && !apierrors.IsNotFound(err) {
			s.log.Warn("could not update pod status", zap.String("pod", qpi.Key()), zap.Error(err))
		}
	}()
}
