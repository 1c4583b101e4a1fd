package localregistry

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// staticBinary builds a small static Go program.
func staticBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// BinaryImage packs a static binary into an image whose entrypoint it is,
// pushed under its name; a dynamically linked binary is refused.
func TestBinaryImage(t *testing.T) {
	bin := staticBinary(t)
	srv, err := Start(Options{Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	img, err := BinaryImage(bin, "hello", map[string]string{"org.opencontainers.image.version": "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Push(ctx, "addons/hello:v1", img); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(srv.Addr()+"/addons/hello:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/hello" || cfg.Config.Labels["org.opencontainers.image.version"] != "v1" || cfg.OS != "linux" {
		t.Errorf("config: entrypoint %v labels %v os %s", cfg.Config.Entrypoint, cfg.Config.Labels, cfg.OS)
	}
	files := map[string]int64{}
	tr := tar.NewReader(mutate.Extract(pulled))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h.Mode
	}
	st, _ := os.Stat(bin)
	if mode, ok := files["hello"]; !ok || mode&0o111 == 0 {
		t.Errorf("binary missing or not executable in the image: %v", files)
	}
	if _, ok := files["etc/passwd"]; !ok || len(files) != 5 {
		t.Errorf("image files %v (binary of %d bytes)", files, st.Size())
	}

	if _, err := BinaryImage("/bin/true", "true", nil); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("a dynamic binary: err %v, want a refusal naming CGO_ENABLED=0", err)
	}
}
