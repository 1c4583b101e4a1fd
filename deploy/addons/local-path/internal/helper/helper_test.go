package helper

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCreateAndDelete runs the helper's command lines, as a helper pod
// does, on a real directory.
func TestCreateAndDelete(t *testing.T) {
	// A umask that would strip the bits asked for: Create must set them.
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	root := t.TempDir()
	vol := filepath.Join(root, "pvc-1_default_data")
	run := func(args ...string) (int, string) {
		var stderr bytes.Buffer
		code := Run(args, &stderr)
		return code, stderr.String()
	}
	if code, out := run(Args(ActionCreate, vol, DefaultMode)[1:]...); code != 0 {
		t.Fatalf("create: exit %d: %s", code, out)
	}
	st, err := os.Stat(vol)
	if err != nil {
		t.Fatal(err)
	}
	if !st.IsDir() || st.Mode().Perm() != 0o777 {
		t.Fatalf("created %v, want a directory with mode 0777", st.Mode())
	}
	if err := os.WriteFile(filepath.Join(vol, "data"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(vol, "sub", "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Again: idempotent, the data stays, the mode is set anew.
	if err := os.Chmod(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out := run("create", "--path", vol, "--mode", "0750"); code != 0 {
		t.Fatalf("create again: exit %d: %s", code, out)
	}
	if st, _ := os.Stat(vol); st.Mode().Perm() != 0o750 {
		t.Errorf("mode %v after create --mode 0750", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(vol, "data")); err != nil {
		t.Errorf("create again lost the data: %v", err)
	}

	if code, out := run(Args(ActionDelete, vol, 0)[1:]...); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, out)
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("delete removed the root: %v", err)
	}
	// Again: already gone is done.
	if code, out := run("delete", "--path", vol); code != 0 {
		t.Fatalf("delete again: exit %d: %s", code, out)
	}
}

func TestRefusals(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no action", nil, "usage"},
		{"unknown action", []string{"resize", "--path", root + "/v"}, `unknown action "resize"`},
		{"no path", []string{"create"}, "--path is required"},
		{"relative path", []string{"create", "--path", "v"}, "want an absolute, clean path"},
		{"unclean path", []string{"delete", "--path", root + "/a/../v"}, "want an absolute, clean path"},
		{"root", []string{"delete", "--path", "/"}, "not a volume directory"},
		{"bad mode", []string{"create", "--path", root + "/v", "--mode", "rwx"}, "want octal permission bits"},
		{"mode too big", []string{"create", "--path", root + "/v", "--mode", "17777"}, "want octal permission bits"},
		{"extra argument", []string{"create", "--path", root + "/v", "x"}, "unexpected arguments"},
		{"root not mounted", []string{"create", "--path", root + "/missing/v"}, "storage root"},
		{"root is a file", []string{"delete", "--path", file + "/v"}, "storage root"},
		{"a file where the directory goes", []string{"create", "--path", file}, "exists and is not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := Run(tc.args, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), tc.want)
			}
			if strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr %q: want one line (it becomes the event)", stderr.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "missing")); !os.IsNotExist(err) {
		t.Errorf("a missing root was created: %v", err)
	}
	if st, err := os.Stat(file); err != nil || !st.Mode().IsRegular() {
		t.Errorf("the file in the way was changed: %v %v", st, err)
	}
}
