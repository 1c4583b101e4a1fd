// Package testbin finds the Coracle binaries tests run as real processes:
// those `make build` put in $CORACLE_BIN_DIR (make test sets it), or, for
// packages that may run on their own, one built for the run.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DirEnv names the environment variable that points at the directory
// `make build` fills.
const DirEnv = "CORACLE_BIN_DIR"

// Path is bin/NAME from $CORACLE_BIN_DIR. The test fails, saying how to
// fix it, when the variable is unset or not absolute, or the binary is
// missing or not executable.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv(DirEnv)
	if dir == "" {
		tb.Fatalf("%s is not set: run make build first, then %s=$PWD/bin go test ./... (make test does both)", DirEnv, DirEnv)
	}
	if !filepath.IsAbs(dir) {
		tb.Fatalf("%s=%q: must be an absolute path (tests run in their package directory)", DirEnv, dir)
	}
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatalf("%s: %v: run make build first", path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		tb.Fatalf("%s: not an executable file: run make build first", path)
	}
	return path
}

// PathOrBuild is bin/NAME from $CORACLE_BIN_DIR if it is there, else the
// Go package pkg built into dir. It is for TestMain and benchmarks, which
// have no test to fail.
func PathOrBuild(name, pkg, dir string) (string, error) {
	if bin := os.Getenv(DirEnv); bin != "" {
		if path := filepath.Join(bin, name); fileExists(path) {
			return path, nil
		}
	}
	path := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s (or run make build first): %v\n%s", name, err, out)
	}
	return path, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
