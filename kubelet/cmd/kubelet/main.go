// Command kubelet is Coracle's node agent: it registers the node, runs the
// pods bound to it with runc and CNI, and serves their logs and exec to
// the apiserver.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"coracle.dev/kubelet"
	"coracle.dev/shared/config"
	"coracle.dev/shared/logging"
	"coracle.dev/shared/version"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	kubelet.AddFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	teardown := fs.Bool("teardown", false, "stop every container of --root-dir and remove every pod, network attachment, cgroup and the bridge, then exit (the kubelet must be stopped)")
	opts := kubelet.DefaultOptions()
	if err := config.Load(fs, os.Args[1:], &opts); err != nil {
		if config.IsHelp(err) {
			return nil
		}
		return err
	}
	if *showVersion {
		fmt.Println(version.String())
		return nil
	}
	log, err := logging.New(logging.Options{Level: opts.LogLevel, Format: opts.LogFormat})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	opts.Log = log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *teardown {
		return kubelet.Teardown(ctx, opts)
	}
	k, err := kubelet.New(opts)
	if err != nil {
		return err
	}
	return k.Run(ctx)
}
