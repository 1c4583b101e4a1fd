// Command local-registry serves an OCI registry on a local address with a
// busybox image in it, built from Debian's busybox-static, so pods run on
// a machine with no route to a public registry. The image is pushed as
// busybox:latest, busybox:1.36 and library/busybox (what "busybox" means
// to a kubelet whose docker.io mirror is this registry).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"coracle.dev/kubelet/internal/registry"
	"coracle.dev/shared/config"
	"coracle.dev/shared/logging"
)

type settings struct {
	Address   string `mapstructure:"address"`
	Busybox   string `mapstructure:"busybox"`
	Username  string `mapstructure:"username"`
	Password  string `mapstructure:"password"`
	LogLevel  string `mapstructure:"log-level"`
	LogFormat string `mapstructure:"log-format"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local-registry:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := pflag.NewFlagSet("local-registry", pflag.ContinueOnError)
	fs.String("address", "127.0.0.1:5000", "address to serve the registry on")
	fs.String("busybox", "/bin/busybox", "static busybox binary to build the busybox image from (empty: no image)")
	fs.String("username", "", "require this user (HTTP Basic) of clients")
	fs.String("password", "", "password for --username")
	fs.String("log-level", "info", "debug, info, warn or error")
	fs.String("log-format", "json", "json or console")
	var s settings
	if err := config.Load(fs, os.Args[1:], &s); err != nil {
		if config.IsHelp(err) {
			return nil
		}
		return err
	}
	log, err := logging.New(logging.Options{Level: s.LogLevel, Format: s.LogFormat})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	srv, err := registry.Start(registry.Options{Address: s.Address, Username: s.Username, Password: s.Password})
	if err != nil {
		return err
	}
	defer srv.Close()
	if s.Busybox != "" {
		img, err := registry.BusyboxImage(s.Busybox)
		if err != nil {
			return err
		}
		for _, ref := range []string{"busybox:latest", "busybox:1.36", "library/busybox:latest", "library/busybox:1.36"} {
			if err := srv.Push(ctx, ref, img); err != nil {
				return err
			}
		}
		log.Info("busybox image pushed", zap.String("image", srv.Addr()+"/busybox:latest"))
	}
	log.Info("registry serving", zap.String("address", srv.Addr()))
	<-ctx.Done()
	return nil
}
