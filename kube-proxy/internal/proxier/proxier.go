// Package proxier keeps the node's iptables rules equal to what the
// Services and EndpointSlices ask for: informer events only signal a
// sync; a sync reads the informer caches, computes the whole desired rule
// set (rules.Build, a pure function), writes what changed since the last
// sync with iptables-restore, and deletes stale UDP conntrack entries.
//
// Syncs are coalesced (events arriving during a sync cause one more) and
// rate-limited: at most two back to back, then one per MinSyncPeriod. A
// periodic check (SyncPeriod) rewrites everything when someone else has
// removed our hooks or flushed our chains.
package proxier

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kube-proxy/internal/conntrack"
	"coracle.dev/kube-proxy/internal/iptables"
	"coracle.dev/kube-proxy/internal/metrics"
	"coracle.dev/kube-proxy/internal/rules"
	"coracle.dev/kube-proxy/internal/trigger"
)

// DefaultMaxChainsPerRestore bounds the chains one iptables-restore
// transaction declares (see rules.Render).
const DefaultMaxChainsPerRestore = 1000

// Config is what a Proxier needs.
type Config struct {
	Factory     informers.SharedInformerFactory
	Runner      *iptables.Runner
	Recorder    record.EventRecorder
	Metrics     *metrics.Metrics
	Log         *zap.Logger
	NodeName    string
	ClusterCIDR string
	// MinSyncPeriod is the least time between syncs (after a burst of 2).
	MinSyncPeriod time.Duration
	// SyncPeriod is how often the rules are checked and repaired.
	SyncPeriod time.Duration
	// MaxChainsPerRestore: 0 is DefaultMaxChainsPerRestore.
	MaxChainsPerRestore int
}

// Proxier programs Services into iptables.
type Proxier struct {
	cfg      Config
	log      *zap.Logger
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	trigger  *trigger.Trigger

	// Touched only by the sync goroutine.
	prev     *rules.Result // what the kernel has, as far as we know; nil: unknown
	started  bool          // a full sync with the kernel's chain list happened
	reported map[string]string
	seenTrig map[string]time.Time
	// lastApplied is the last rule set written in full or in part (kept
	// when prev is reset, to know which chains may need deleting), and
	// lastPorts its service ports, for conntrack clean-up.
	lastApplied *rules.Result
	lastPorts   []rules.ServicePort
	observed    bool
	cache       rules.Cache

	mu       sync.Mutex // guards lastSync
	lastSync time.Time
}

// New builds a proxier on cfg's informer factory; Run runs it.
func New(cfg Config) (*Proxier, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.MaxChainsPerRestore == 0 {
		cfg.MaxChainsPerRestore = DefaultMaxChainsPerRestore
	}
	if cfg.MinSyncPeriod < 0 || cfg.SyncPeriod <= 0 {
		return nil, fmt.Errorf("sync periods %v, %v: want min >= 0 and period > 0", cfg.MinSyncPeriod, cfg.SyncPeriod)
	}
	svcInformer := cfg.Factory.Core().V1().Services()
	sliceInformer := cfg.Factory.Discovery().V1().EndpointSlices()
	p := &Proxier{
		cfg: cfg, log: cfg.Log,
		services: svcInformer.Lister(), slices: sliceInformer.Lister(),
		trigger:  trigger.New(),
		reported: map[string]string{}, seenTrig: map[string]time.Time{},
	}
	if err := p.trigger.Watch(svcInformer.Informer(), sliceInformer.Informer()); err != nil {
		return nil, err
	}
	return p, nil
}

// Trigger asks for a sync soon; calls during a sync coalesce into one.
func (p *Proxier) Trigger() {
	p.trigger.Fire()
}

// HasSynced reports whether the informers have their first list.
func (p *Proxier) HasSynced() bool {
	for _, s := range p.trigger.Synced() {
		if !s() {
			return false
		}
	}
	return true
}

// LastSync is when the rules were last written successfully.
func (p *Proxier) LastSync() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSync
}

// Run syncs until ctx ends. The informers must have been started.
func (p *Proxier) Run(ctx context.Context) {
	if !toolscache.WaitForCacheSync(ctx.Done(), p.trigger.Synced()...) {
		return
	}
	limiter := rate.NewLimiter(rate.Every(max(p.cfg.MinSyncPeriod, time.Millisecond)), 2)
	if p.cfg.MinSyncPeriod == 0 {
		limiter = rate.NewLimiter(rate.Inf, 1)
	}
	check := time.NewTicker(p.cfg.SyncPeriod)
	defer check.Stop()
	retry := time.NewTimer(0)
	if !retry.Stop() {
		<-retry.C
	}
	p.Trigger()
	for {
		repair := false
		select {
		case <-ctx.Done():
			return
		case <-p.trigger.C():
		case <-retry.C:
		case <-check.C:
			repair = true
		}
		if err := limiter.Wait(ctx); err != nil {
			return
		}
		if repair && p.prev != nil {
			ok, err := p.cfg.Runner.HooksIntact(len(p.prev.NAT.Get(rules.ChainServices).Rules))
			if err != nil || !ok {
				p.log.Warn("rules changed behind our back; rewriting them all", zap.Error(err))
				p.prev = nil
			}
		}
		if err := p.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Error("sync failed; retrying", zap.Error(err))
			retry.Reset(max(p.cfg.MinSyncPeriod, time.Second))
		}
	}
}

func (p *Proxier) sync(ctx context.Context) error {
	start := time.Now()
	kind := "partial"
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return err
	}
	slices, err := p.slices.List(labels.Everything())
	if err != nil {
		return err
	}
	res := rules.Build(rules.Input{NodeName: p.cfg.NodeName, ClusterCIDR: p.cfg.ClusterCIDR, Services: svcs, Slices: slices, Cache: &p.cache})
	buildTime := time.Since(start)

	prev := p.prev
	var ops []rules.Op
	if prev == nil {
		kind = "full"
		if err := p.cfg.Runner.EnsureHooks(); err != nil {
			p.cfg.Metrics.Syncs.WithLabelValues(kind, "error").Inc()
			return err
		}
		existing := map[string][]string{}
		if !p.started {
			// After a restart, chains of services deleted meanwhile are
			// only found by listing.
			for _, t := range []string{rules.TableNAT, rules.TableFilter} {
				chains, err := p.cfg.Runner.Chains(t)
				if err != nil {
					p.cfg.Metrics.Syncs.WithLabelValues(kind, "error").Inc()
					return fmt.Errorf("list %s chains: %w", t, err)
				}
				existing[t] = chains
			}
		} else if p.lastApplied != nil {
			for _, t := range p.lastApplied.Tables() {
				for _, c := range t.Chains {
					existing[t.Name] = append(existing[t.Name], c.Name)
				}
			}
		}
		ops = rules.Diff(nil, res, existing)
	} else {
		ops = rules.Diff(prev, res, nil)
	}
	payloads := rules.Render(ops, p.cfg.MaxChainsPerRestore)
	restoreStart := time.Now()
	for _, pl := range payloads {
		if err := p.cfg.Runner.Restore(ctx, pl); err != nil {
			// The kernel may hold part of it, chains of res included:
			// next time write everything, and list what is there.
			p.prev, p.started = nil, false
			p.cfg.Metrics.Syncs.WithLabelValues(kind, "error").Inc()
			return err
		}
	}
	p.prev, p.lastApplied, p.started = res, res, true
	applied := time.Now()
	restoreTime := applied.Sub(restoreStart)

	var oldPorts []rules.ServicePort
	if prev != nil {
		oldPorts = prev.Ports
	} else if p.lastPorts != nil {
		oldPorts = p.lastPorts
	}
	for _, f := range conntrack.Stale(oldPorts, res.Ports) {
		if err := conntrack.Delete(ctx, f); err != nil {
			p.log.Warn("stale conntrack entries not deleted", zap.Error(err))
		}
	}
	p.lastPorts = res.Ports

	p.reportProblems(res.Problems)
	p.observeProgramming(slices, applied)
	d := time.Since(start)
	p.cfg.Metrics.SyncDuration.WithLabelValues(kind).Observe(d.Seconds())
	p.cfg.Metrics.Syncs.WithLabelValues(kind, "success").Inc()
	p.cfg.Metrics.LastSync.Set(float64(applied.UnixNano()) / 1e9)
	p.cfg.Metrics.Rules.WithLabelValues(rules.TableNAT).Set(float64(res.NAT.RuleCount()))
	p.cfg.Metrics.Rules.WithLabelValues(rules.TableFilter).Set(float64(res.Filter.RuleCount()))
	p.mu.Lock()
	p.lastSync = applied
	p.mu.Unlock()
	lvl := p.log.Debug
	if kind == "full" {
		lvl = p.log.Info
	}
	lvl("rules synced", zap.String("kind", kind), zap.Int("services", len(svcs)), zap.Int("chainsWritten", len(ops)),
		zap.Int("transactions", len(payloads)), zap.Int("natRules", res.NAT.RuleCount()),
		zap.Duration("build", buildTime), zap.Duration("restore", restoreTime), zap.Duration("took", d))
	return nil
}

// reportProblems records an event on each Service that cannot be
// programmed, once per distinct problem.
func (p *Proxier) reportProblems(problems []rules.Problem) {
	now := map[string]string{}
	for _, pr := range problems {
		key := pr.Namespace + "/" + pr.Name + "/" + pr.Reason
		msg := pr.Message
		if prevMsg, ok := now[key]; ok {
			msg = prevMsg + "; " + msg
		}
		now[key] = msg
	}
	for key, msg := range now {
		if p.reported[key] == msg {
			continue
		}
		parts := strings.SplitN(key, "/", 3)
		p.log.Warn("service not programmed", zap.String("service", parts[0]+"/"+parts[1]), zap.String("reason", parts[2]), zap.String("message", msg))
		if svc, err := p.services.Services(parts[0]).Get(parts[1]); err == nil && p.cfg.Recorder != nil {
			p.cfg.Recorder.Event(svc, v1.EventTypeWarning, parts[2], msg)
		}
	}
	p.reported = now
}

// observeProgramming records, for every EndpointSlice changed since the
// last sync, the time from its change to now.
func (p *Proxier) observeProgramming(slices []*discoveryv1.EndpointSlice, applied time.Time) {
	seen := make(map[string]time.Time, len(p.seenTrig))
	for _, s := range slices {
		v := s.Annotations[v1.EndpointsLastChangeTriggerTime]
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			continue
		}
		key := s.Namespace + "/" + s.Name
		seen[key] = t
		if last, ok := p.seenTrig[key]; (ok && t.After(last)) || (!ok && p.observed) {
			p.cfg.Metrics.NetworkProgramming.Observe(applied.Sub(t).Seconds())
		}
	}
	p.seenTrig, p.observed = seen, true
}

// EnableRouteLocalnet lets node ports answer on 127.0.0.1, as
// Kubernetes does (the DNATed packets leave with a loopback source).
func EnableRouteLocalnet() error {
	return os.WriteFile("/proc/sys/net/ipv4/conf/all/route_localnet", []byte("1"), 0o644)
}
