// Package testbin finds the Coracle binaries tests run as real processes:
// those `make build` put in $CORACLE_BIN_DIR (make test sets it), or, when
// that is unset, ones built from this checkout for the run, so that
// `go test ./...` in one module works on its own.
package testbin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// DirEnv names the environment variable that points at the directory
// `make build` fills.
const DirEnv = "CORACLE_BIN_DIR"

// packageOf is the Go package each binary is built from. Names only: shared
// imports no component.
func packageOf(name string) (string, bool) {
	pkg, ok := map[string]string{
		"apiserver":          "coracle.dev/apiserver/cmd/apiserver",
		"apiserver-load":     "coracle.dev/apiserver/cmd/apiserver-load",
		"scheduler":          "coracle.dev/scheduler/cmd/scheduler",
		"controller-manager": "coracle.dev/controller-manager/cmd/controller-manager",
		"kubelet":            "coracle.dev/kubelet/cmd/kubelet",
		"kubelet-shim":       "coracle.dev/kubelet/cmd/kubelet-shim",
		"local-registry":     "coracle.dev/kubelet/cmd/local-registry",
		"kube-proxy":         "coracle.dev/kube-proxy/cmd/kube-proxy",
		"ctl":                "coracle.dev/ctl/cmd/ctl",
	}[name]
	return pkg, ok
}

// Path is bin/NAME: from $CORACLE_BIN_DIR when that is set, else built
// for this run (see Find). The test fails, saying how to fix it, when the
// variable is not an absolute path or the binary is missing, or the build
// fails.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	path, err := Find(name)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// Find is Path for TestMain and benchmarks' setup, which have no test to
// fail. Without $CORACLE_BIN_DIR it builds the binary's package with the
// go command, in the workspace of the test's directory, into a cache
// directory of that workspace: go skips the link when the binary there is
// up to date, and a test binary builds each program once.
func Find(name string) (string, error) {
	if dir := os.Getenv(DirEnv); dir != "" {
		return fromDir(dir, name)
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if path, ok := builds.done[name]; ok {
		return path, nil
	}
	path, err := build(name)
	if err != nil {
		return "", err
	}
	builds.done[name] = path
	return path, nil
}

// builds remembers what this test binary has built, so that the tests of
// a package, each starting an apiserver, pay for one go build only.
var builds = struct {
	mu   sync.Mutex        // guards done
	done map[string]string // binary name -> path
}{done: map[string]string{}}

func fromDir(dir, name string) (string, error) {
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%s=%q: must be an absolute path (tests run in their package directory)", DirEnv, dir)
	}
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w: run make build first (or unset %s to build it for this run)", path, err, DirEnv)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s: not an executable file: run make build first", path)
	}
	return path, nil
}

// build runs go build into the workspace's cache directory. A lock file
// keeps test binaries that go test runs at once from writing the same
// binary together; a process already running an older copy keeps it, as
// go replaces the file rather than writing into it.
func build(name string) (string, error) {
	pkg, ok := packageOf(name)
	if !ok {
		return "", fmt.Errorf("no Go package known for binary %q: set %s to a directory holding it", name, DirEnv)
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("build %s: lock: %w", name, err)
	}
	path := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s is unset and go build %s failed (run make build, then %s=$PWD/bin): %w\n%s", DirEnv, pkg, DirEnv, err, out)
	}
	return path, nil
}

// cacheDir is a directory for this workspace's binaries in the user's
// cache: one per checkout, so that two checkouts' tests never run each
// other's builds.
func cacheDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(workspaceRoot(wd)))
	dir := filepath.Join(base, "coracle-testbin", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("binary cache: %w", err)
	}
	return dir, nil
}

// workspaceRoot is the nearest directory above dir holding go.work, or dir
// itself when there is none.
func workspaceRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// KubeletEvictionHard is the --eviction-hard of the kubelets tests run:
// memory only, the disk signals off (0%), as kind runs its nodes' kubelets,
// so that a test never depends on how full the host's disk is (upstream's
// defaults put a host with less than 15% free under DiskPressure, which
// refuses every pod). The eviction tests set their own.
const KubeletEvictionHard = "memory.available<100Mi,nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%"
