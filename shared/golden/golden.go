// Package golden compares a test's output with an expected-output file
// under testdata/, and rewrites the file when the test runs with -update:
//
//	golden.Assert(t, "testdata/plain.golden", out.String())
//	go test ./... -run TestPrint -update   # after a deliberate change
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update is the -update flag of every test binary that imports golden.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the tests produce")

// Updating reports whether the run rewrites golden files (-update).
func Updating() bool { return *update }

// Assert fails t when got differs from the file at path (relative to the
// test's package directory); with -update it writes got there instead.
func Assert(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
