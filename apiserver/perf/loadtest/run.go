package loadtest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"coracle.dev/shared/kubeconfig"
)

// Report is what a run measured.
type Report struct {
	Rows     []Row
	Verdicts []Verdict
}

// Missed reports whether any target was missed.
func (r Report) Missed() bool {
	for _, v := range r.Verdicts {
		if !v.Pass {
			return true
		}
	}
	return false
}

// Run drives the benchmark cfg describes, writing the table to out as it
// goes, and returns what it measured. With cfg.StartAPIServer it starts
// the apiserver first and stops it at the end.
func Run(ctx context.Context, cfg Config, out io.Writer, log *zap.Logger) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	kc := cfg.Kubeconfig
	if cfg.StartAPIServer != "" {
		srv, err := startForRun(ctx, cfg, log)
		if err != nil {
			return Report{}, err
		}
		defer srv.cleanup()
		kc = srv.Kubeconfig
		cfg.APIServerPID, cfg.EtcdMetricsURL = srv.PID(), srv.EtcdMetricsURL
		fmt.Fprintf(out, "apiserver: %s started by the benchmark, data in %s (%s)\n", cfg.StartAPIServer, srv.DataDir, FilesystemOf(srv.DataDir))
	}
	rc, err := kubeconfig.RESTConfig(kc)
	if err != nil {
		return Report{}, fmt.Errorf("kubeconfig %s: %w", kc, err)
	}
	r, err := newRunner(cfg, rc, out, log)
	if err != nil {
		return Report{}, err
	}
	return r.run(ctx)
}

// startedServer is an apiserver started for one run, and how to undo it.
type startedServer struct {
	*APIServer
	cleanup func()
}

func startForRun(ctx context.Context, cfg Config, log *zap.Logger) (*startedServer, error) {
	dir, removeDir := cfg.APIServerDir, func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "apiserver-load-")
		if err != nil {
			return nil, fmt.Errorf("apiserver directory: %w", err)
		}
		dir, removeDir = tmp, func() { _ = os.RemoveAll(tmp) }
	}
	srv, err := StartAPIServer(ctx, cfg.StartAPIServer, dir, cfg.APIServerArgs, log)
	if err != nil {
		removeDir()
		return nil, err
	}
	return &startedServer{APIServer: srv, cleanup: func() {
		if err := srv.Stop(); err != nil {
			log.Warn("stopping apiserver", zap.Error(err))
		}
		removeDir()
	}}, nil
}

// runner drives the phases against one apiserver.
type runner struct {
	cfg    Config
	client kubernetes.Interface
	out    io.Writer
	log    *zap.Logger
	cpu    cpuMeter
	disk   *etcdDisk // nil: etcd's metrics unknown
	report Report

	// ns takes the creates and the fan-out's probe; objects holds exactly
	// cfg.Objects configmaps for get, update and list.
	ns, objects string
	filled      bool // objects holds its configmaps
	// created counts the configmaps the run created, for cleanup's report.
	created atomic.Int64
	// dials counts the connections the client opened: HTTP/2 carries many
	// requests on one, up to the server's stream limit.
	dials atomic.Int64
}

func newRunner(cfg Config, rc *rest.Config, out io.Writer, log *zap.Logger) (*runner, error) {
	ns := cfg.Namespace + "-" + randomSuffix()
	r := &runner{
		cfg: cfg, out: out, log: log, cpu: cpuMeter{serverPID: cfg.APIServerPID},
		ns: ns, objects: ns + "-objects",
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = cfg.QPS, cfg.Burst
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	rc.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		r.dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	r.client = client
	if cfg.EtcdMetricsURL != "" {
		r.disk = &etcdDisk{url: cfg.EtcdMetricsURL, client: &http.Client{}}
	}
	return r, nil
}

func randomSuffix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

func (r *runner) run(ctx context.Context) (Report, error) {
	if err := r.writeHeader(ctx); err != nil {
		return r.report, err
	}
	if err := r.createNamespaces(ctx); err != nil {
		return r.report, err
	}
	defer r.cleanup(ctx)
	for _, p := range r.phases() {
		if !slices.Contains(r.cfg.Phases, p.name) {
			continue
		}
		r.log.Debug("phase starting", zap.String("phase", p.name))
		if err := p.run(ctx); err != nil {
			return r.report, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return r.report, r.writeVerdicts()
}

// phase is one part of the benchmark.
type phase struct {
	name string
	run  func(context.Context) error
}

// phases are the benchmark's parts in the order they run; the names are
// AllPhases.
func (r *runner) phases() []phase {
	return []phase{
		{PhaseCreate, r.createPhase},
		{PhaseRate, r.openLoopPhase},
		{PhaseGet, r.getPhase},
		{PhaseUpdate, r.updatePhase},
		{PhaseList, r.listPhase},
		{PhaseWatch, r.fanoutPhase},
	}
}

func (r *runner) writeHeader(ctx context.Context) error {
	v, err := r.client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	fmt.Fprintf(r.out, "machine:   %s\n", ReadMachine())
	fmt.Fprintf(r.out, "server:    %s (%s)\n", v.GitVersion, v.GoVersion)
	fmt.Fprintf(r.out, "cpu:       cores s+c/all = cores busy on average during the row: apiserver + this load program / whole machine\n")
	fmt.Fprintf(r.out, "load:      namespaces %s, %s; %s per level; %d objects for get/update/list; %d watchers, %d events >= %s apart\n\n",
		r.ns, r.objects, r.cfg.Duration, r.cfg.Objects, r.cfg.Watchers, r.cfg.Events, r.cfg.EventInterval)
	return WriteHeader(r.out)
}

// add records a row and prints it.
func (r *runner) add(row Row) {
	r.report.Rows = append(r.report.Rows, row)
	if err := WriteRow(r.out, row); err != nil {
		r.log.Warn("writing row", zap.Error(err))
	}
}

// measure runs one row's load, adds the CPU the server and this program
// used meanwhile and, if known, etcd's fsyncs, and adds the row, unless
// the run was interrupted meanwhile and the row is only part of one.
func (r *runner) measure(ctx context.Context, load func() Row) Row {
	diskBefore, diskOK := r.readDisk()
	before := r.cpu.read()
	row := load()
	row.CPU = r.cpu.read().since(before)
	if diskAfter, ok := r.readDisk(); ok && diskOK {
		if d := diskAfter.Sub(diskBefore); d.WALFsync.Count > 0 {
			row.Note += "; " + d.String()
		}
	}
	if ctx.Err() == nil {
		r.add(row)
	}
	return row
}

// readDisk reads etcd's disk latencies; false if they are unknown.
func (r *runner) readDisk() (DiskStats, bool) {
	if r.disk == nil {
		return DiskStats{}, false
	}
	d, err := r.disk.read(context.Background())
	if err != nil {
		r.log.Debug("reading etcd metrics", zap.Error(err))
		return DiskStats{}, false
	}
	return d, true
}

// rowFrom turns a loop's record into a row, logging its first error.
func (r *runner) rowFrom(op string, conc int, rec *Recorder, elapsed time.Duration, note string) Row {
	if rec.FirstErr != nil {
		r.log.Warn("operation failed", zap.String("op", op), zap.Int("concurrency", conc), zap.Int("errors", rec.Errors), zap.Error(rec.FirstErr))
	}
	return Row{
		Op: op, Concurrency: conc, Ops: len(rec.Latencies), Elapsed: elapsed, Latency: Summarize(rec.Latencies),
		Errors: rec.Errors, Note: note, CPU: cpuTimes{Server: -1, Client: -1, Machine: -1},
	}
}

func (r *runner) writeVerdicts() error {
	fmt.Fprintln(r.out)
	for _, v := range r.report.Verdicts {
		if err := WriteVerdict(r.out, v); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) createNamespaces(ctx context.Context) error {
	for _, name := range []string{r.ns, r.objects} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{benchLabel: "true"}}}
		if _, err := r.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// cleanup deletes the run's objects and namespaces, on a context of its
// own so that an interrupted run (runCtx done) still cleans up; but not an
// interrupted run on an apiserver it started, which goes away anyway.
func (r *runner) cleanup(runCtx context.Context) {
	if runCtx.Err() != nil && r.cfg.StartAPIServer != "" {
		r.log.Info("interrupted: not cleaning up the apiserver that is about to stop")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	for _, ns := range []string{r.ns, r.objects} {
		cms := r.client.CoreV1().ConfigMaps(ns)
		if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			r.log.Warn("deleting configmaps", zap.String("namespace", ns), zap.Error(err))
		}
		if err := r.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			r.log.Warn("deleting namespace", zap.String("namespace", ns), zap.Error(err))
		}
	}
	fmt.Fprintf(r.out, "cleanup: deletecollection of %d configmaps and deletion of 2 namespaces took %s\n",
		r.created.Load(), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(r.out, "client:    %d connections opened in all\n", r.dials.Load())
}
