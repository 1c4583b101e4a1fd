package eviction

import (
	"os"
	"path/filepath"
	"testing"
)

// The working set is usage less inactive file pages, from cgroup v1's
// or v2's files, as cAdvisor computes it.
func TestWorkingSet(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"cgroup v1", map[string]string{"memory.usage_in_bytes": "1000\n", "memory.stat": "inactive_file 7\ntotal_inactive_file 300\n"}, 700},
		{"cgroup v2", map[string]string{"memory.current": "1000\n", "memory.stat": "anon 600\ninactive_file 250\n"}, 750},
		{"inactive above usage", map[string]string{"memory.current": "100\n", "memory.stat": "inactive_file 250\n"}, 0},
		{"no memory.stat", map[string]string{"memory.current": "100\n"}, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for f, c := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := workingSet(dir)
			if err != nil || got != tc.want {
				t.Errorf("working set %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if _, err := workingSet(t.TempDir()); err == nil {
		t.Error("no error for a directory without memory files")
	}
}

func TestContainerName(t *testing.T) {
	for dir, want := range map[string]string{"app-0": "app", "my-side-car-12": "my-side-car", "app": "", "-1": "", "app-x": ""} {
		got, ok := containerName(dir)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", dir, got, ok, want)
		}
	}
}

// du counts the files of the directory's file system only.
func TestDu(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "f"), make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	bytes, inodes := du(dir)
	if bytes < 64<<10 || inodes != 4 {
		t.Errorf("du: %d bytes, %d inodes; want at least 64Ki and 4 (3 directories and a file)", bytes, inodes)
	}
	if b, i := du(filepath.Join(dir, "missing")); b != 0 || i != 0 {
		t.Errorf("du of a missing directory: %d %d", b, i)
	}
}
