package pause

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary run as the pause process, as the shim
// binary does.
func TestMain(m *testing.M) {
	if Requested() {
		os.Exit(Main())
	}
	os.Exit(m.Run())
}

// TestPauseReapsAndStops starts the pause process as PID 1 of a new PID
// namespace, as the runtime does, orphans a process in that namespace,
// and checks that it is reaped, not left a zombie, and that SIGTERM ends
// the pause process with 0.
func TestPauseReapsAndStops(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("a new PID namespace needs root (run the tests as root)")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Fatal("nsenter (util-linux) is needed to join the pause process's namespace")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: exe, Args: []string{Name}, Env: []string{Env + "=test"},
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Setsid: true}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	pid := cmd.Process.Pid
	waitFor(t, "the pause process to name itself", func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return strings.TrimSpace(string(b)) == "pause"
	})

	// sh leaves a sleep behind, which the namespace's PID 1 adopts.
	out, err := exec.Command(nsenter, "-t", strconv.Itoa(pid), "-p", "--", "/bin/sh", "-c", "sleep 1 >/dev/null 2>&1 & echo $!").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v: %s", err, out)
	}
	waitFor(t, "the orphan to be adopted", func() bool { return len(children(pid)) > 0 })
	waitFor(t, "the orphan to be reaped", func() bool { return len(children(pid)) == 0 })

	if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("pause ended with %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pause did not end on SIGTERM")
	}
}

// children lists the PIDs of the process's children, zombies included.
func children(pid int) []string {
	var out []string
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
