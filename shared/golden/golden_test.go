package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that remembers whether the check failed.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestAssert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "out.golden")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		got      string
		wantFail bool
	}{
		{"same content passes", path, "a\nb\n", false},
		{"different content fails", path, "a\nc\n", true},
		{"missing file fails", filepath.Join(filepath.Dir(path), "none.golden"), "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Assert(r, tt.path, tt.got)
			if r.failed != tt.wantFail {
				t.Fatalf("failed = %v, want %v", r.failed, tt.wantFail)
			}
		})
	}
}

func TestUpdateRewrites(t *testing.T) {
	*update = true
	t.Cleanup(func() { *update = false })
	path := filepath.Join(t.TempDir(), "testdata", "new.golden")
	Assert(t, path, "fresh\n")
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "fresh\n" {
		t.Fatalf("after -update: %q, %v", b, err)
	}
}
