package component

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/zapr"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"coracle.dev/shared/config"
	"coracle.dev/shared/logging"
	"coracle.dev/shared/version"
)

// Daemon describes a daemon's command line for Main. C is its
// configuration struct, whose fields carry `mapstructure:"flag-name"` tags.
type Daemon[C any] struct {
	// Name is the command's name: the flag set's and the prefix of the
	// error Main prints.
	Name string
	// AddFlags declares the daemon's own flags with their defaults. Main
	// adds --config, --version, --log-level and --log-format.
	AddFlags func(fs *pflag.FlagSet)
	// Defaults is the configuration AddFlags' defaults describe; the
	// merged flags, file and environment are decoded over it.
	Defaults func() C
	// Run runs the daemon until ctx ends (SIGTERM or SIGINT) and returns
	// nil on a clean stop. log is the process's logger.
	Run func(ctx context.Context, cfg C, log *zap.Logger) error
}

// Main is a daemon's whole main function: it parses the flags, merges
// them with the --config file and CORACLE_* variables, builds the zap
// logger and sends client-go's klog lines to it, and runs the daemon
// until SIGTERM. It exits 0 on a clean stop or after --help and
// --version, and 1 after printing "NAME: error" otherwise.
func Main[C any](d Daemon[C]) {
	os.Exit(d.main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func (d Daemon[C]) main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := d.run(ctx, args, stdout); err != nil {
		if config.IsHelp(err) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", d.Name, err)
		return 1
	}
	return 0
}

func (d Daemon[C]) run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, logOpts, showVersion, err := d.load(args)
	if err != nil {
		return err
	}
	if showVersion {
		fmt.Fprintln(stdout, version.String())
		return nil
	}
	log, err := logging.New(logOpts)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	// client-go logs through klog; its lines go to the same logger, so
	// the process writes one format.
	klog.SetLogger(zapr.NewLogger(log.Named("client-go")))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return d.Run(ctx, cfg, log)
}

// Load parses args as Main does (the daemon's flags and Main's, merged
// with the --config file and CORACLE_* variables) and returns the
// configuration and the log options, for tests of a daemon's settings.
func (d Daemon[C]) Load(args []string) (C, logging.Options, error) {
	cfg, logOpts, _, err := d.load(args)
	return cfg, logOpts, err
}

func (d Daemon[C]) load(args []string) (cfg C, logOpts logging.Options, showVersion bool, err error) {
	fs := pflag.NewFlagSet(d.Name, pflag.ContinueOnError)
	d.AddFlags(fs)
	version := fs.Bool("version", false, "print the version and exit")
	logging.AddFlags(fs)
	cfg = d.Defaults()
	err = config.Load(fs, args, &cfg, &logOpts)
	return cfg, logOpts, *version, err
}
