package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"coracle.dev/shared/logging"
)

// errMissed: a target was missed and --fail-on-miss asked to say so.
var errMissed = errors.New("a target was missed")

// Main is the apiserver-load command: it parses args, runs the load and
// returns the exit code: 0, 1 on an error, 2 when --fail-on-miss is given
// and a target was missed.
func Main(args []string, stdout, stderr io.Writer) int {
	err := command(args, stdout)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.Is(err, errMissed):
		fmt.Fprintln(stderr, "apiserver-load:", err)
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "apiserver-load:", err)
		return 1
	}
	return 0
}

func command(args []string, stdout io.Writer) error {
	cfg := DefaultConfig()
	fs := pflag.NewFlagSet("apiserver-load", pflag.ContinueOnError)
	addFlags(fs, &cfg)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr)")
	failOnMiss := fs.Bool("fail-on-miss", false, "exit 2 when a target is missed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := logging.New(logging.Options{Level: *logLevel, Format: "console"})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The first signal winds the run down; a second one kills at once.
	context.AfterFunc(ctx, stop)
	report, err := Run(ctx, cfg, stdout, log)
	if err != nil {
		return err
	}
	if *failOnMiss && report.Missed() {
		return errMissed
	}
	return nil
}

func addFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig of the apiserver to load")
	fs.StringVar(&c.StartAPIServer, "start-apiserver", c.StartAPIServer, "apiserver binary to start on free loopback ports for the run, instead of --kubeconfig")
	fs.StringVar(&c.APIServerDir, "apiserver-dir", c.APIServerDir, "data directory for --start-apiserver (default: a temporary one, removed afterwards)")
	fs.StringArrayVar(&c.APIServerArgs, "apiserver-arg", c.APIServerArgs, "extra flag for --start-apiserver, e.g. --apiserver-arg=--log-level=warn (repeatable)")
	fs.IntVar(&c.APIServerPID, "apiserver-pid", c.APIServerPID, "pid of the apiserver, when it runs on this machine, to show its CPU use (set by itself with --start-apiserver)")
	fs.StringVar(&c.EtcdMetricsURL, "etcd-metrics-url", c.EtcdMetricsURL, "etcd's /metrics URL, to show its WAL fsync latency beside each row (set by itself with --start-apiserver)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "base name of the run's namespaces (a random suffix is added)")
	fs.StringSliceVar(&c.Phases, "phases", c.Phases, "phases to run: "+strings.Join(AllPhases, ","))
	fs.IntSliceVar(&c.Concurrency, "concurrency", c.Concurrency, "concurrency levels of the closed-loop phases")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "duration of each level and of the fixed-rate phase")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "creates per second of the fixed-rate (open-loop) phase")
	fs.IntVar(&c.RateWorkers, "rate-workers", c.RateWorkers, "workers sending the fixed-rate creates")
	fs.IntVar(&c.Objects, "objects", c.Objects, "objects in the namespace that get, update and list use")
	fs.IntVar(&c.Watchers, "watchers", c.Watchers, "watches the fan-out phase opens")
	fs.IntVar(&c.Events, "events", c.Events, "probe events the fan-out phase times")
	fs.StringSliceVar(&c.WatchClients, "watch-clients", c.WatchClients, "watch clients for the fan-out, in order: client-go (decodes every event) and raw (only scans the JSON lines, so it measures mostly the apiserver); the target is checked on the first")
	fs.DurationVar(&c.EventInterval, "event-interval", c.EventInterval, "least time between two probe events")
	fs.DurationVar(&c.EventTimeout, "event-timeout", c.EventTimeout, "how long to wait for every watcher to get an event")
	fs.Float32Var(&c.QPS, "qps", c.QPS, "client-side rate limit (requests per second)")
	fs.IntVar(&c.Burst, "burst", c.Burst, "client-side rate limit burst")
	fs.DurationVar(&c.CreateTarget, "create-target", c.CreateTarget, "p99 target of the fixed-rate creates")
	fs.DurationVar(&c.FanoutTarget, "fanout-target", c.FanoutTarget, "p99 target of an event reaching every watcher")
}
