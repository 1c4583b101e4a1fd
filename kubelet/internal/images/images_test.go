package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/localregistry"
)

func TestUnpackTurnsWhiteoutsIntoOverlayOnes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("unpacking layers (device nodes, ownership) needs root")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/.wh.old.conf", Typeflag: tar.TypeReg},
		{Name: "var/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "var/.wh..wh..opq", Typeflag: tar.TypeReg},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"},
		{Name: "../../escape", Typeflag: tar.TypeReg, Mode: 0o644},
	}
	for _, h := range entries {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	dir := t.TempDir()
	if err := Unpack(&buf, filepath.Join(dir, "root")); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "root/etc/old.conf"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout is not a 0/0 character device: %v %o", err, st.Mode)
	}
	val := make([]byte, 1)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "root/var"), "trusted.overlay.opaque", val); err != nil || n != 1 || val[0] != 'y' {
		t.Errorf("opaque directory: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "root/bin/sh")); err != nil || target != "busybox" {
		t.Errorf("symlink: %q %v", target, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
		t.Error("an entry escaped the layer directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "root/escape")); err != nil {
		t.Errorf("a ../ entry is kept inside: %v", err)
	}
}

func startRegistry(t *testing.T, opts localregistry.Options) *localregistry.Server {
	t.Helper()
	opts.Address = "127.0.0.1:0"
	srv, err := localregistry.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	img, err := localregistry.BusyboxImage("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox image (needs busybox-static): %v", err)
	}
	for _, ref := range []string{"busybox:latest", "library/busybox:1.36"} {
		if err := srv.Push(context.Background(), ref, img); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

func TestPullStoreAndGC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("unpacking layers needs root")
	}
	srv := startRegistry(t, localregistry.Options{})
	store, err := Open(Options{Dir: t.TempDir(), Mirrors: map[string]string{"docker.io": srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := srv.Addr() + "/busybox:latest"
	if _, ok := store.Get(ref); ok {
		t.Fatal("present before the pull")
	}
	img, err := store.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 || img.Cmd[0] != "sh" || img.Size == 0 {
		t.Errorf("image %+v", img)
	}
	dirs, err := store.LayerDirs(img.Ref)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("layer dirs %v: %v", dirs, err)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "bin/busybox")); err != nil {
		t.Errorf("unpacked layer: %v", err)
	}
	// "busybox:1.36" means docker.io/library/busybox: the mirror has it.
	mirrored, err := store.Pull(ctx, "busybox:1.36", nil)
	if err != nil {
		t.Fatalf("pull through the docker.io mirror: %v", err)
	}
	if got, ok := store.Get("docker.io/library/busybox:1.36"); !ok || got.ID != mirrored.ID {
		t.Errorf("mirrored image not stored under its own name")
	}
	// Records survive a reopen.
	again, err := Open(Options{Dir: store.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.Get(ref); !ok {
		t.Error("image lost on reopen")
	}
	// Garbage collection removes unused images, oldest use first, and
	// keeps layers other images still use.
	store.Use(ref)
	removed, err := store.removeUnused(map[string]bool{}, 0, func() bool { return len(store.List()) <= 1 })
	if err != nil || len(removed) != 1 || removed[0] != "index.docker.io/library/busybox:1.36" {
		t.Errorf("removed %v, %v", removed, err)
	}
	if _, err := os.Stat(dirs[0]); err != nil {
		t.Errorf("a layer still in use was removed: %v", err)
	}
	removed, _ = store.removeUnused(map[string]bool{img.Ref: true}, 0, func() bool { return false })
	if len(removed) != 0 {
		t.Errorf("an image in use was removed: %v", removed)
	}
	removed, _ = store.removeUnused(map[string]bool{}, time.Hour, func() bool { return false })
	if len(removed) != 0 {
		t.Errorf("a recently used image was removed: %v", removed)
	}
	removed, _ = store.removeUnused(map[string]bool{}, 0, func() bool { return false })
	if len(removed) != 1 {
		t.Errorf("removed %v", removed)
	}
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Errorf("the last image's layer stays: %v", err)
	}
}

func TestPullWithPullSecret(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("unpacking layers needs root")
	}
	srv := startRegistry(t, localregistry.Options{Username: "u", Password: "p"})
	store, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ref := srv.Addr() + "/busybox:latest"
	if _, err := store.Pull(context.Background(), ref, nil); err == nil {
		t.Fatal("pulled without credentials")
	}
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{"https://" + srv.Addr() + "/v1/": map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte("u:p")),
	}}})
	secret := v1.Secret{Type: v1.SecretTypeDockerConfigJson, Data: map[string][]byte{v1.DockerConfigJsonKey: cfg}}
	if _, err := store.Pull(context.Background(), ref, []v1.Secret{secret}); err != nil {
		t.Fatalf("pull with a dockerconfigjson secret: %v", err)
	}
}

func TestDefaultsToAlways(t *testing.T) {
	for ref, want := range map[string]bool{"busybox": true, "busybox:latest": true, "busybox:1.36": false, "r.io/a/b@sha256:" + string(bytes.Repeat([]byte("a"), 64)): false} {
		if got := DefaultsToAlways(ref); got != want {
			t.Errorf("%s: %v", ref, got)
		}
	}
}

// A mirror named http://HOST:PORT is spoken to over plain HTTP wherever
// it is; one with no scheme only when it is on loopback.
func TestMirrorScheme(t *testing.T) {
	for _, tc := range []struct{ mirror, registry, scheme string }{
		{"http://172.31.250.1:5000", "172.31.250.1:5000", "http"},
		{"127.0.0.1:5000", "127.0.0.1:5000", "http"},
		{"mirror.example.com", "mirror.example.com", "https"},
	} {
		s := &Store{mirrors: map[string]string{"index.docker.io": tc.mirror}}
		refs := s.candidates("busybox:1.36")
		if len(refs) != 2 {
			t.Fatalf("%s: candidates %v", tc.mirror, refs)
		}
		reg := refs[0].Context().Registry
		if reg.RegistryStr() != tc.registry || reg.Scheme() != tc.scheme || refs[0].Context().RepositoryStr() != "library/busybox" {
			t.Errorf("%s: first candidate %s (scheme %s), want %s/library/busybox over %s", tc.mirror, refs[0], reg.Scheme(), tc.registry, tc.scheme)
		}
	}
}
