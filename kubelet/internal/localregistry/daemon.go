package localregistry

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"coracle.dev/shared/component"
)

// Config is the local-registry binary's command line.
type Config struct {
	Address  string `mapstructure:"address"`
	Busybox  string `mapstructure:"busybox"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// Images are REPO:TAG=BINARY pairs: each static binary is packed
	// into a base-less image pushed as REPO:TAG (the add-ons' images).
	Images []string `mapstructure:"image"`
}

// DefaultConfig is the configuration AddFlags' defaults describe.
func DefaultConfig() Config {
	return Config{Address: "127.0.0.1:5000", Busybox: "/bin/busybox"}
}

// AddFlags declares local-registry's flags on fs with their defaults.
func AddFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("address", d.Address, "address to serve the registry on")
	fs.String("busybox", d.Busybox, "static busybox binary to build the busybox image from (empty: no image)")
	fs.String("username", d.Username, "require this user (HTTP Basic) of clients")
	fs.String("password", d.Password, "password for --username")
	fs.StringArray("image", nil, "REPO:TAG=BINARY: pack the static BINARY into a base-less image (the binary its entrypoint) and push it as REPO:TAG; repeatable")
}

// Daemon is the local-registry binary's command line, for component.Main.
func Daemon() component.Daemon[Config] {
	return component.Daemon[Config]{Name: "local-registry", AddFlags: AddFlags, Defaults: DefaultConfig, Run: Run}
}

// busyboxRefs are the names the busybox image is pushed as: what
// "busybox" means to a kubelet whose docker.io mirror is this registry,
// with and without the library/ prefix.
var busyboxRefs = []string{"busybox:latest", "busybox:1.36", "library/busybox:latest", "library/busybox:1.36"}

// Run serves a registry, with the busybox image in it unless
// cfg.Busybox is empty, until ctx ends.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	srv, err := Start(Options{Address: cfg.Address, Username: cfg.Username, Password: cfg.Password})
	if err != nil {
		return err
	}
	defer srv.Close()
	if cfg.Busybox != "" {
		img, err := BusyboxImage(cfg.Busybox)
		if err != nil {
			return err
		}
		for _, ref := range busyboxRefs {
			if err := srv.Push(ctx, ref, img); err != nil {
				return err
			}
		}
		log.Info("busybox image pushed", zap.String("image", srv.Addr()+"/busybox:latest"))
	}
	for _, spec := range cfg.Images {
		ref, binary, ok := strings.Cut(spec, "=")
		repo, tag, tagged := strings.Cut(ref, ":")
		if !ok || !tagged || repo == "" || tag == "" || binary == "" {
			return fmt.Errorf("--image %q: want REPO:TAG=BINARY", spec)
		}
		version := tag
		img, err := BinaryImage(binary, path.Base(repo), map[string]string{
			"org.opencontainers.image.title":   path.Base(repo),
			"org.opencontainers.image.version": version,
			"org.opencontainers.image.source":  "coracle",
		})
		if err != nil {
			return fmt.Errorf("--image %q: %w", spec, err)
		}
		if err := srv.Push(ctx, ref, img); err != nil {
			return err
		}
		log.Info("image pushed", zap.String("image", srv.Addr()+"/"+ref), zap.String("binary", binary))
	}
	log.Info("registry serving", zap.String("address", srv.Addr()))
	<-ctx.Done()
	return nil
}
