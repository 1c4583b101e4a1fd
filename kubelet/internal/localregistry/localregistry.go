// Package localregistry is an OCI registry for development (the
// local-registry binary): it serves go-containerregistry's in-process
// registry on a local address, and builds a small image from Debian's
// busybox-static to put in it: the way pods get an image on a machine
// with no route to a public registry.
package localregistry

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Server is a running registry.
type Server struct {
	http     *http.Server
	listener net.Listener
	done     chan struct{}
	username string
	password string
}

// Options configure a registry.
type Options struct {
	// Address to listen on, 127.0.0.1:0 for any free port.
	Address string
	// Username and Password, if set, are required of every client (HTTP
	// Basic authentication, as registries' token-less mode).
	Username, Password string
}

// Start serves a registry in memory until Close.
func Start(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return nil, err
	}
	s := &Server{listener: ln, done: make(chan struct{}), username: opts.Username, password: opts.Password}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if opts.Username != "" {
		h = s.basicAuth(h)
	}
	s.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

func (s *Server) basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.username || p != s.password {
			w.Header().Set("WWW-Authenticate", `Basic realm="coracle-registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Addr is host:port the registry listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Close stops the registry.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	<-s.done
	return err
}

// Push writes img to the registry as repo:tag (e.g. "busybox:latest").
func (s *Server) Push(ctx context.Context, ref string, img ggcrv1.Image) error {
	r, err := name.ParseReference(s.Addr()+"/"+ref, name.Insecure)
	if err != nil {
		return err
	}
	auth := authn.Anonymous
	if s.username != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: s.username, Password: s.password})
	}
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithAuth(auth)); err != nil {
		return fmt.Errorf("push %s: %w", r, err)
	}
	return nil
}

// BusyboxImage builds an image from a static busybox binary: the binary
// at /bin/busybox, a symlink for each of its applets, /etc/passwd and
// /etc/group, /tmp; its command is sh.
func BusyboxImage(busybox string) (ggcrv1.Image, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("busybox: %w", err)
	}
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w (is %s busybox-static?)", err, busybox)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dir := func(p string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, ModTime: epoch})
	}
	file := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	var errs []error
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "var", "proc", "sys", "dev"} {
		errs = append(errs, dir(d, 0o755))
	}
	errs = append(errs, dir("tmp", 0o1777))
	errs = append(errs, file("bin/busybox", 0o755, bin))
	errs = append(errs, file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")))
	errs = append(errs, file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")))
	for _, a := range applets {
		if a == "bin/busybox" || !strings.Contains(a, "/") {
			continue
		}
		rel := relativeTo(path.Dir(a), "bin/busybox")
		errs = append(errs, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: rel, Mode: 0o777, ModTime: epoch}))
	}
	errs = append(errs, tw.Close())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("busybox layer: %w", err)
	}
	return oneLayerImage(buf.Bytes(), func(c *ggcrv1.Config) {
		c.Cmd = []string{"sh"}
		c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	})
}

// oneLayerImage is a linux image of this machine's architecture whose
// one layer is the tar data, its run settings set by configure.
func oneLayerImage(data []byte, configure func(*ggcrv1.Config)) (ggcrv1.Image, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	configure(&cfg.Config)
	return mutate.ConfigFile(img, cfg)
}

// BinaryImage builds a base-less image from one static binary, as ko
// does: the binary at /<name> is the entrypoint, beside an empty /tmp and
// the /etc/passwd and /etc/group of root and nobody; no shell, no libc.
// A binary that needs a dynamic loader would not start in it, so one is
// refused. labels become the image's labels (OCI annotations such as
// org.opencontainers.image.version).
func BinaryImage(binary, name string, labels map[string]string) (ggcrv1.Image, error) {
	if err := checkStatic(binary); err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	file := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	errs := []error{
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755, ModTime: epoch}),
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")),
		file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")),
		file(name, 0o755, bin),
		tw.Close(),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("image of %s: %w", binary, err)
	}
	return oneLayerImage(buf.Bytes(), func(c *ggcrv1.Config) {
		c.Entrypoint = []string{"/" + name}
		c.Env = []string{"PATH=/"}
		c.Labels = labels
	})
}

// checkStatic refuses a binary that is not a statically linked ELF
// executable (one with an interpreter, the dynamic loader).
func checkStatic(binary string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%s: not an executable: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0 to run it in an image without libc", binary)
		}
	}
	return nil
}

// relativeTo is the symlink target from directory dir to target (both
// relative to the root).
func relativeTo(dir, target string) string {
	depth := strings.Count(path.Clean(dir), "/") + 1
	if dir == "." || dir == "" {
		depth = 0
	}
	return strings.Repeat("../", depth) + target
}
