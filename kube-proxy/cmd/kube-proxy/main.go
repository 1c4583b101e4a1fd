// Command kube-proxy programs the node's iptables so that Services work,
// as Kubernetes' kube-proxy does:
//
//	kube-proxy --kubeconfig FILE --node-name NAME [--cluster-cidr CIDR]
//	           [--proxy-mode iptables] [--cleanup] [--config FILE]
//
// See coracle.dev/kube-proxy/app for what it runs.
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

	"coracle.dev/kube-proxy/app"
	"coracle.dev/shared/config"
	"coracle.dev/shared/logging"
	"coracle.dev/shared/version"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kube-proxy:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := pflag.NewFlagSet("kube-proxy", pflag.ContinueOnError)
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
	klog.SetLogger(zapr.NewLogger(log.Named("client-go")))
	cfg.Log = log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cfg.Cleanup {
		if err := app.Cleanup(ctx, cfg); err != nil {
			return err
		}
		log.Info("kube-proxy rules removed")
		return nil
	}
	srv, err := app.New(cfg)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
