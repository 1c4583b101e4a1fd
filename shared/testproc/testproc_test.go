package testproc

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStopReportsHowTheProcessEnded(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		wantErr      string // "" for a clean stop
	}{
		{"exit 0 on SIGTERM", `trap 'exit 0' TERM; while :; do sleep 0.05; done`, ""},
		{"exit 3 on SIGTERM", `trap 'exit 3' TERM; while :; do sleep 0.05; done`, "exit status 3"},
		{"SIGTERM ignored", `trap '' TERM; while :; do sleep 0.05; done`, "killed"},
		{"gone before the stop", `exit 0`, "had already exited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Spawn("sh", "/bin/sh", []string{"-c", tc.script}, filepath.Join(t.TempDir(), "sh.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			if tc.wantErr == "had already exited" {
				<-p.Done()
			} else {
				time.Sleep(200 * time.Millisecond) // let the shell set its trap
			}
			err = p.Stop(time.Second)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Stop: %v, want a clean stop", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Stop: %v, want an error saying %q", err, tc.wantErr)
			}
			if !p.Exited() {
				t.Error("process still running after Stop")
			}
		})
	}
}

func TestAwaitFailsWhenTheProcessExits(t *testing.T) {
	p, err := Spawn("sh", "/bin/sh", []string{"-c", "echo starting; exit 7"}, filepath.Join(t.TempDir(), "sh.log"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Await(10*time.Second, func() (bool, string) { return false, "not yet" })
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready: exit status 7") {
		t.Fatalf("Await: %v", err)
	}
	if p.ExitCode() != 7 {
		t.Errorf("exit code %d, want 7", p.ExitCode())
	}
	if tail := LogTail(p.LogPath(), 1); tail != "starting" {
		t.Errorf("log tail %q, want the process's last line", tail)
	}
}

func TestStartStopsTheProcessWhenTheTestEnds(t *testing.T) {
	var p *Process
	t.Run("inner", func(t *testing.T) {
		p = Start(t, "sleeper", "/bin/sh", "-c", "exec sleep 60")
		if !processExists(p.PID()) {
			t.Fatal("process not running")
		}
	})
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after its test ended")
	}
	if got := p.ExitDescription(); got != "signal: terminated" {
		t.Errorf("ended by %q, want SIGTERM", got)
	}
}

func processExists(pid int) bool {
	proc, err := os.FindProcess(pid)
	return err == nil && proc.Signal(syscall.Signal(0)) == nil
}
