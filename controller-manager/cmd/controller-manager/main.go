// Command controller-manager runs Coracle's controllers (ReplicaSet,
// Deployment, garbage collector, namespace, node lifecycle, ...) against
// an apiserver:
//
//	controller-manager --kubeconfig FILE [--leader-elect] [--cluster-cidr 10.244.0.0/16]
//	    [--node-cidr-mask-size 24] [--node-monitor-grace-period 40s] [--config FILE]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"coracle.dev/shared/config"
	"coracle.dev/shared/logging"

	"coracle.dev/controller-manager/manager"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if config.IsHelp(err) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "controller-manager:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	opts := manager.DefaultOptions()
	fs := pflag.NewFlagSet("controller-manager", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := config.Load(fs, args, &opts); err != nil {
		return err
	}
	log, err := logging.New(logging.Options{Level: opts.LogLevel, Format: opts.LogFormat})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = manager.Run(ctx, manager.Config{Options: opts, Log: log})
	if errors.Is(err, manager.ErrLostLease) {
		log.Error("lost the leader lease; exiting")
	}
	return err
}
