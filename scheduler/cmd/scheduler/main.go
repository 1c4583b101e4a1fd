// Command scheduler assigns pods to nodes, as kube-scheduler does:
//
//	scheduler --kubeconfig FILE [--scheduler-name NAME] [--leader-elect] [--config FILE]
//
// See coracle.dev/scheduler/app for what it runs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/zapr"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"coracle.dev/scheduler/app"
	"coracle.dev/shared/config"
	"coracle.dev/shared/logging"
	"coracle.dev/shared/version"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := pflag.NewFlagSet("scheduler", pflag.ContinueOnError)
	app.AddFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	cfg := app.DefaultConfig()
	if err := config.Load(fs, os.Args[1:], &cfg); err != nil {
		if config.IsHelp(err) {
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Println(version.String())
		return nil
	}
	log, err := logging.New(logging.Options{Level: cfg.LogLevel, Format: cfg.LogFormat})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	// client-go logs through klog; send those lines to the same zap logger
	// so the process writes one format.
	klog.SetLogger(zapr.NewLogger(log.Named("client-go")))
	cfg.Log = log
	srv, err := app.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Run(ctx)
}
