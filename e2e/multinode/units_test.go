package multinode

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"coracle.dev/shared/testbin"
)

// TestUnits installs the control plane and a worker the way a real host
// is installed (deploy/install.sh, under a prefix) and checks every
// systemd unit with systemd-analyze verify, which also checks that the
// binary each ExecStart= names is there; and that every file a unit
// names with --config was installed.
func TestUnits(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatalf("systemd-analyze not found (deploy/install-deps.sh installs Debian's systemd package): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("install.sh runs as root: run this test as root")
	}
	binDir := filepath.Dir(testbin.Path(t, "kubelet"))
	for _, name := range []string{"apiserver", "scheduler", "controller-manager", "kube-proxy", "kubelet-shim", "ctl"} {
		testbin.Path(t, name)
	}
	for _, tc := range []struct {
		role  string
		units []string
	}{
		{"--control-plane", []string{"coracle-apiserver", "coracle-controller-manager", "coracle-kube-proxy", "coracle-kubelet", "coracle-scheduler"}},
		{"--worker", []string{"coracle-kube-proxy", "coracle-kubelet"}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			prefix := t.TempDir()
			install := exec.Command(filepath.Join(repoRoot(t), "deploy", "install.sh"), tc.role, "--prefix", prefix)
			install.Env = append(os.Environ(), "CORACLE_BIN_DIR="+binDir)
			if out, err := install.CombinedOutput(); err != nil {
				t.Fatalf("install.sh %s: %v\n%s", tc.role, err, out)
			}
			unitDir := filepath.Join(prefix, "etc", "systemd", "system")
			paths, _ := filepath.Glob(filepath.Join(unitDir, "*.service"))
			var got []string
			for _, p := range paths {
				got = append(got, strings.TrimSuffix(filepath.Base(p), ".service"))
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(tc.units, " ") {
				t.Errorf("installed units %v, want %v", got, tc.units)
			}
			for _, p := range paths {
				out, err := exec.Command("systemd-analyze", "verify", p).CombinedOutput()
				if err != nil || len(strings.TrimSpace(string(out))) > 0 {
					t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(p), err, out)
				}
				unit, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(string(unit), "\n") {
					exec, ok := strings.CutPrefix(line, "ExecStart=")
					if !ok {
						continue
					}
					words := strings.Fields(exec)
					for i, w := range words {
						if w == "--config" && i+1 < len(words) {
							if !strings.HasPrefix(words[i+1], prefix) {
								t.Errorf("%s: --config %s not moved under the prefix", filepath.Base(p), words[i+1])
							}
							if _, err := os.Stat(words[i+1]); err != nil {
								t.Errorf("%s: its config file: %v", filepath.Base(p), err)
							}
						}
					}
				}
			}
		})
	}
}
