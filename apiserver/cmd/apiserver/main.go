// Command apiserver serves the Kubernetes API from etcd.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"coracle.dev/apiserver/server"
	"coracle.dev/shared/config"
	"coracle.dev/shared/logging"
	"coracle.dev/shared/version"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := pflag.NewFlagSet("apiserver", pflag.ContinueOnError)
	server.AddFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	cfg := server.DefaultConfig()
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
	cfg.Log = log
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Run(ctx)
}
