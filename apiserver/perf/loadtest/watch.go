package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
)

// The watch clients the fan-out phase can use.
const (
	// ClientGo watches with client-go, which decodes every event into a
	// typed object: what a controller or a kubelet does.
	ClientGo = "client-go"
	// RawStream reads the watch's JSON lines and only looks for the probe's
	// sequence number: nearly free on the client, so what it measures is
	// mostly the apiserver's own part of the fan-out.
	RawStream = "raw"
)

// probeLabel selects a fan-out's probe object, and only it.
const probeLabel = "coracle.dev/loadtest-probe"

// watchOpenParallelism is how many watches are being opened at once.
const watchOpenParallelism = 50

// warmupTimeout bounds the wait for every watcher's first event.
const warmupTimeout = 60 * time.Second

// arrivals records when each watcher received each probe event. Watcher w
// writes only column w; the counters tell the sender when an event is
// complete.
type arrivals struct {
	base time.Time
	at   [][]atomic.Int64 // [event][watcher]: nanoseconds after base; 0 = not yet
	left []atomic.Int32   // [event]: watchers still to receive it
	done []chan struct{}  // [event]: closed when left reaches 0
	// closed counts watches that ended before the phase did.
	closed atomic.Int32
}

func newArrivals(events, watchers int) *arrivals {
	a := &arrivals{
		base: time.Now(),
		at:   make([][]atomic.Int64, events),
		left: make([]atomic.Int32, events),
		done: make([]chan struct{}, events),
	}
	for i := range events {
		a.at[i] = make([]atomic.Int64, watchers)
		a.left[i].Store(int32(watchers))
		a.done[i] = make(chan struct{})
	}
	return a
}

// now is the time since base, never 0 (0 means "not arrived").
func (a *arrivals) now() time.Duration { return max(time.Since(a.base), 1) }

// arrive records that watcher w received event i; repeats are ignored.
func (a *arrivals) arrive(i, w int) {
	if i < 0 || i >= len(a.at) {
		return
	}
	if a.at[i][w].CompareAndSwap(0, int64(a.now())) && a.left[i].Add(-1) == 0 {
		close(a.done[i])
	}
}

// snapshot copies the arrival times of events from..len-1.
func (a *arrivals) snapshot(from int) [][]time.Duration {
	out := make([][]time.Duration, 0, len(a.at)-from)
	for _, row := range a.at[from:] {
		got := make([]time.Duration, len(row))
		for w := range row {
			got[w] = time.Duration(row[w].Load())
		}
		out = append(out, got)
	}
	return out
}

// watcher is one open watch of the probe.
type watcher interface {
	// receive files the probe events watcher w gets in a, until the
	// watch ends.
	receive(w int, a *arrivals)
	// stop ends the watch.
	stop()
}

// clientGoWatcher is a client-go watch: every event decoded.
type clientGoWatcher struct{ wi watch.Interface }

func (c clientGoWatcher) receive(w int, a *arrivals) {
	defer a.closed.Add(1)
	for ev := range c.wi.ResultChan() {
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if !ok || (ev.Type != watch.Modified && ev.Type != watch.Added) {
			continue
		}
		if seq, err := strconv.Atoi(cm.Data["seq"]); err == nil {
			a.arrive(seq, w)
		}
	}
}

func (c clientGoWatcher) stop() { c.wi.Stop() }

// rawWatcher reads a watch response's lines without decoding them.
type rawWatcher struct{ body io.ReadCloser }

func (r rawWatcher) receive(w int, a *arrivals) {
	defer a.closed.Add(1)
	br := bufio.NewReader(r.body)
	for {
		line, err := br.ReadBytes('\n')
		if seq, ok := ProbeSeq(line); ok {
			a.arrive(seq, w)
		}
		if err != nil {
			return
		}
	}
}

func (r rawWatcher) stop() { _ = r.body.Close() }

var seqField = []byte(`"seq":"`)

// ProbeSeq finds the probe's sequence number in one watch event's JSON
// line: the value of its data's "seq" key.
func ProbeSeq(line []byte) (int, bool) {
	i := bytes.Index(line, seqField)
	if i < 0 {
		return 0, false
	}
	rest := line[i+len(seqField):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(rest[:end]))
	return n, err == nil
}

// fanoutPhase measures the fan-out with each watch client asked for.
func (r *runner) fanoutPhase(ctx context.Context) error {
	for _, kind := range r.cfg.WatchClients {
		if err := r.fanout(ctx, kind); err != nil {
			return fmt.Errorf("%s watchers: %w", kind, err)
		}
	}
	return nil
}

// fanout opens cfg.Watchers watches of kind on one probe object, then
// updates it cfg.Events times, one event at a time, timing each event's
// way to every watcher. Event 0 is a warm-up that also proves every watch
// is established; it is not counted.
func (r *runner) fanout(ctx context.Context, kind string) error {
	probe := configMap(r.ns, "probe-"+kind, 0)
	probe.Labels[probeLabel] = kind
	probe.Data["seq"] = "-1"
	probe, err := r.client.CoreV1().ConfigMaps(r.ns).Create(ctx, probe, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create probe: %w", err)
	}
	r.created.Add(1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := metav1.ListOptions{LabelSelector: probeLabel + "=" + kind, ResourceVersion: probe.ResourceVersion}
	var watchers []watcher
	var openRec *Recorder
	r.measure(ctx, func() Row {
		dials := r.dials.Load()
		var elapsed time.Duration
		watchers, openRec, elapsed = r.openWatches(wctx, kind, opts)
		return r.rowFrom("watch open, "+kind, watchOpenParallelism, openRec, elapsed,
			fmt.Sprintf("until the response's headers arrive; %d new connections", r.dials.Load()-dials))
	})
	if len(watchers) < r.cfg.Watchers {
		stopAll(watchers)
		return fmt.Errorf("opened %d of %d watches, first error: %w", len(watchers), r.cfg.Watchers, openRec.FirstErr)
	}
	a := newArrivals(r.cfg.Events+1, r.cfg.Watchers)
	var wg sync.WaitGroup
	for w, wt := range watchers {
		wg.Go(func() { wt.receive(w, a) })
	}
	defer wg.Wait()
	defer stopAll(watchers)
	return r.sendProbes(ctx, kind, probe, a)
}

// openWatches opens cfg.Watchers watches, a few at a time.
func (r *runner) openWatches(ctx context.Context, kind string, opts metav1.ListOptions) ([]watcher, *Recorder, time.Duration) {
	var mu sync.Mutex // guards opened
	opened := make([]watcher, 0, r.cfg.Watchers)
	rec, elapsed := FixedCount(ctx, watchOpenParallelism, r.cfg.Watchers, func(ctx context.Context, _, _ int) error {
		wt, err := r.openWatch(ctx, kind, opts)
		if err != nil {
			return err
		}
		mu.Lock()
		opened = append(opened, wt)
		mu.Unlock()
		return nil
	})
	return opened, rec, elapsed
}

func (r *runner) openWatch(ctx context.Context, kind string, opts metav1.ListOptions) (watcher, error) {
	if kind == ClientGo {
		wi, err := r.client.CoreV1().ConfigMaps(r.ns).Watch(ctx, opts)
		return clientGoWatcher{wi}, err
	}
	opts.Watch = true
	body, err := r.client.CoreV1().RESTClient().Get().Namespace(r.ns).Resource("configmaps").
		VersionedParams(&opts, scheme.ParameterCodec).Stream(ctx)
	return rawWatcher{body}, err
}

func stopAll(watchers []watcher) {
	for _, w := range watchers {
		w.stop()
	}
}

// sendProbes updates the probe once per event, waits for every watcher to
// have it (or EventTimeout), and keeps events at least EventInterval apart,
// so that each event's latency is measured alone, not queued behind the
// last one.
func (r *runner) sendProbes(ctx context.Context, kind string, probe *corev1.ConfigMap, a *arrivals) error {
	sent := make([]time.Duration, r.cfg.Events+1)
	update := &Recorder{}
	var before cpuTimes
	var start time.Time
	for i := 0; i <= r.cfg.Events; i++ {
		if i == 1 {
			before, start = r.cpu.read(), time.Now()
		}
		next, err := r.sendProbe(ctx, probe, i, a, sent, update)
		if err != nil {
			return err
		}
		probe = next
		timeout := r.cfg.EventTimeout
		if i == 0 {
			timeout = warmupTimeout
		}
		if !r.awaitEvent(ctx, a, i, timeout) && i == 0 {
			return fmt.Errorf("warm-up: only %d of %d watchers got the first event within %s",
				r.cfg.Watchers-int(a.left[0].Load()), r.cfg.Watchers, timeout)
		}
		if wait := time.Until(a.base.Add(sent[i] + r.cfg.EventInterval)); wait > 0 {
			time.Sleep(wait)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cpu := r.cpu.read().since(before)
	r.addFanoutRows(kind, Fanout(sent[1:], a.snapshot(1)), update, time.Since(start), cpu, int(a.closed.Load()))
	return nil
}

// sendProbe updates the probe to carry event i, recording when it was sent.
func (r *runner) sendProbe(ctx context.Context, probe *corev1.ConfigMap, i int, a *arrivals, sent []time.Duration, rec *Recorder) (*corev1.ConfigMap, error) {
	cm := probe.DeepCopy()
	cm.Data["seq"] = strconv.Itoa(i)
	sent[i] = a.now()
	got, err := r.client.CoreV1().ConfigMaps(r.ns).Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update probe for event %d: %w", i, err)
	}
	if i > 0 {
		rec.Ok(a.now() - sent[i])
	}
	return got, nil
}

// awaitEvent waits until every watcher has event i; false on timeout.
func (r *runner) awaitEvent(ctx context.Context, a *arrivals, i int, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.done[i]:
		return true
	case <-t.C:
		r.log.Warn("event did not reach every watcher", zap.Int("event", i), zap.Int32("missing", a.left[i].Load()))
		return false
	case <-ctx.Done():
		return false
	}
}

func (r *runner) addFanoutRows(kind string, res FanoutResult, update *Recorder, elapsed time.Duration, cpu cpuTimes, closed int) {
	n := r.cfg.Watchers
	if closed > 0 {
		r.log.Warn("watches ended early", zap.String("client", kind), zap.Int("count", closed))
	}
	probe := r.rowFrom("probe update, "+kind, 1, update, elapsed, "the update each event comes from")
	all := Row{
		Op: "event to all, " + kind, Concurrency: n, Ops: len(res.All), Elapsed: elapsed,
		Latency: Summarize(res.All), Errors: res.Incomplete,
		Note: fmt.Sprintf("update sent -> last of %d watchers has it; events >= %s apart", n, r.cfg.EventInterval),
	}
	each := Row{
		Op: "event to each, " + kind, Concurrency: n, Ops: len(res.Each), Elapsed: elapsed,
		Latency: Summarize(res.Each), Errors: res.Missed, Note: "update sent -> one watcher has it",
	}
	for _, row := range []Row{probe, all, each} {
		row.CPU = cpu
		r.add(row)
	}
	if kind == r.cfg.WatchClients[0] {
		r.report.Verdicts = append(r.report.Verdicts, Check(Target{
			Name: fmt.Sprintf("event to all %d watchers (%s) p99", n, kind), Limit: r.cfg.FanoutTarget,
		}, all))
	}
}
