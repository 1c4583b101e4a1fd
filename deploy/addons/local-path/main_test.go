package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// asMainEnv makes the test binary run main with its arguments, so that
// TestHelperSubcommand runs the command line a helper pod runs through
// the binary's own entry point.
const asMainEnv = "LOCAL_PATH_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) != "" {
		os.Args = append([]string{"/local-path"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runMain(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestHelperSubcommand(t *testing.T) {
	root := t.TempDir()
	vol := filepath.Join(root, "pvc-1_default_data")
	if out, err := runMain(t, "helper", "create", "--path", vol, "--mode", "0777"); err != nil {
		t.Fatalf("helper create: %v: %s", err, out)
	}
	if st, err := os.Stat(vol); err != nil || !st.IsDir() || st.Mode().Perm() != 0o777 {
		t.Fatalf("after helper create: %v %v", st, err)
	}
	if out, err := runMain(t, "helper", "delete", "--path", vol); err != nil {
		t.Fatalf("helper delete: %v: %s", err, out)
	}
	if _, err := os.Stat(vol); !os.IsNotExist(err) {
		t.Fatalf("after helper delete: %v", err)
	}
	out, err := runMain(t, "helper", "delete", "--path", "/")
	if err == nil || !strings.Contains(out, "not a volume directory") {
		t.Fatalf("helper delete --path /: %v: %s", err, out)
	}
	// Without the subcommand it is the provisioner, which wants its image.
	out, err = runMain(t, "--kubeconfig", filepath.Join(root, "none"))
	if err == nil || !strings.Contains(out, "--helper-image: required") {
		t.Fatalf("provisioner without --helper-image: %v: %s", err, out)
	}
}
