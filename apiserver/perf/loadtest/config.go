package loadtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The benchmark's phases, in the order they run.
const (
	PhaseCreate = "create" // closed-loop creates at each concurrency
	PhaseRate   = "rate"   // open-loop creates at Rate
	PhaseGet    = "get"
	PhaseUpdate = "update"
	PhaseList   = "list"
	PhaseWatch  = "watch" // the fan-out
)

// AllPhases lists every phase.
var AllPhases = []string{PhaseCreate, PhaseRate, PhaseGet, PhaseUpdate, PhaseList, PhaseWatch}

// Config says what load to drive and where.
type Config struct {
	// Kubeconfig points at the apiserver to load; empty with StartAPIServer.
	Kubeconfig string
	// StartAPIServer, if set, is an apiserver binary to start on free
	// loopback ports for the run and stop after it.
	StartAPIServer string
	// APIServerDir holds the started apiserver's data; empty means a
	// temporary directory removed afterwards.
	APIServerDir string
	// APIServerArgs are extra flags for the started apiserver.
	APIServerArgs []string
	// APIServerPID, when the apiserver runs on this machine, lets the
	// table show its CPU use; set by itself with StartAPIServer.
	APIServerPID int

	// EtcdMetricsURL, when set, is etcd's /metrics, read around each row
	// to show etcd's WAL fsync latency beside the write latency; set by
	// itself with StartAPIServer (the embedded etcd).
	EtcdMetricsURL string

	// Namespace is the base name of the run's namespaces; a random suffix
	// makes them new for every run.
	Namespace string
	// Phases are the phases to run (AllPhases' names).
	Phases []string
	// Concurrency levels of the closed-loop phases.
	Concurrency []int
	// Duration of each closed-loop level and of the open-loop phase.
	Duration time.Duration
	// Rate is the open-loop create rate, per second.
	Rate float64
	// RateWorkers send the open-loop creates.
	RateWorkers int
	// Objects is the size of the namespace that get, update and list use.
	Objects int
	// Watchers is the number of watches the fan-out phase opens.
	Watchers int
	// Events is the number of probe events the fan-out phase measures.
	Events int
	// WatchClients are the watch clients the fan-out is measured with, in
	// order (ClientGo, RawStream); the target is checked on the first.
	WatchClients []string
	// EventInterval is the least time between two probe events.
	EventInterval time.Duration
	// EventTimeout is how long to wait for every watcher to get an event.
	EventTimeout time.Duration
	// QPS and Burst are client-go's client-side rate limit, set high so
	// that the client does not throttle itself.
	QPS   float32
	Burst int

	// CreateTarget is the p99 the open-loop creates must meet.
	CreateTarget time.Duration
	// FanoutTarget is the p99 for an event to reach every watcher.
	FanoutTarget time.Duration
}

// DefaultConfig is the benchmark the issue asks for.
func DefaultConfig() Config {
	return Config{
		Namespace: "bench", Phases: slices.Clone(AllPhases), Concurrency: []int{1, 8, 32}, Duration: 10 * time.Second,
		Rate: 500, RateWorkers: 64, Objects: 1000, Watchers: 1000, Events: 200, WatchClients: []string{ClientGo, RawStream},
		EventInterval: 20 * time.Millisecond, EventTimeout: 5 * time.Second,
		QPS: 100000, Burst: 100000,
		CreateTarget: 25 * time.Millisecond, FanoutTarget: 100 * time.Millisecond,
	}
}

// Validate checks the configuration, naming the bad setting.
func (c *Config) Validate() error {
	var errs []error
	if (c.Kubeconfig == "") == (c.StartAPIServer == "") {
		errs = append(errs, errors.New("want exactly one of --kubeconfig and --start-apiserver"))
	}
	if c.APIServerPID < 0 {
		errs = append(errs, fmt.Errorf("--apiserver-pid %d: must not be negative", c.APIServerPID))
	}
	if c.Namespace == "" {
		errs = append(errs, errors.New("--namespace: required"))
	}
	if len(c.Phases) == 0 {
		errs = append(errs, errors.New("--phases: want at least one"))
	}
	for _, p := range c.Phases {
		if !slices.Contains(AllPhases, p) {
			errs = append(errs, fmt.Errorf("--phases %q: want some of %s", p, strings.Join(AllPhases, ",")))
		}
	}
	if len(c.Concurrency) == 0 {
		errs = append(errs, errors.New("--concurrency: want at least one level"))
	}
	for _, n := range c.Concurrency {
		if n < 1 || n > c.Objects {
			errs = append(errs, fmt.Errorf("--concurrency %d: must be 1-%d (--objects)", n, c.Objects))
		}
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must be positive", c.Duration))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("--rate %v: must be positive", c.Rate))
	}
	if c.RateWorkers < 1 {
		errs = append(errs, fmt.Errorf("--rate-workers %d: must be at least 1", c.RateWorkers))
	}
	if c.Objects < 1 {
		errs = append(errs, fmt.Errorf("--objects %d: must be at least 1", c.Objects))
	}
	if c.Watchers < 1 {
		errs = append(errs, fmt.Errorf("--watchers %d: must be at least 1", c.Watchers))
	}
	if c.Events < 1 {
		errs = append(errs, fmt.Errorf("--events %d: must be at least 1", c.Events))
	}
	if len(c.WatchClients) == 0 {
		errs = append(errs, errors.New("--watch-clients: want at least one"))
	}
	for _, k := range c.WatchClients {
		if k != ClientGo && k != RawStream {
			errs = append(errs, fmt.Errorf("--watch-clients %q: want %s or %s", k, ClientGo, RawStream))
		}
	}
	if c.EventTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--event-timeout %s: must be positive", c.EventTimeout))
	}
	if c.QPS <= 0 || c.Burst < 1 {
		errs = append(errs, fmt.Errorf("--qps %v, --burst %d: must be positive", c.QPS, c.Burst))
	}
	return errors.Join(errs...)
}
