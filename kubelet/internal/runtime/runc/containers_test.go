package runc

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/shim"
)

// An exited container's reason comes from its records. The record the
// caller read may predate StartContainer's write of StartedAt; the exit
// record proves the write happened, so the reason must not be StartError.
func TestExitedContainerReason(t *testing.T) {
	started := time.Now().Add(-time.Second)
	tests := []struct {
		name     string
		read     containerRecord // what the caller read
		onDisk   containerRecord // container.json when the exit is read
		exit     shim.Exit
		wantWhy  string
		wantCode int
	}{
		{"failed command", containerRecord{ID: "c-0", StartedAt: started}, containerRecord{ID: "c-0", StartedAt: started},
			shim.Exit{ExitCode: 3}, "Error", 3},
		{"success", containerRecord{ID: "c-0", StartedAt: started}, containerRecord{ID: "c-0", StartedAt: started},
			shim.Exit{}, "Completed", 0},
		{"out of memory", containerRecord{ID: "c-0", StartedAt: started}, containerRecord{ID: "c-0", StartedAt: started},
			shim.Exit{ExitCode: 137, OOMKilled: true}, "OOMKilled", 137},
		{"runc start failed, waiting process killed", containerRecord{ID: "c-0", StartedAt: started, StartFailed: true}, containerRecord{ID: "c-0", StartedAt: started, StartFailed: true},
			shim.Exit{ExitCode: 137, Signal: 9}, "StartError", 137},
		{"runc start lost the race with a process that ended at once", containerRecord{ID: "c-0", StartedAt: started, StartFailed: true}, containerRecord{ID: "c-0", StartedAt: started, StartFailed: true},
			shim.Exit{ExitCode: 0}, "Completed", 0},
		{"never started", containerRecord{ID: "c-0"}, containerRecord{ID: "c-0"},
			shim.Exit{ExitCode: 137}, "StartError", 137},
		{"stale read of a started container", containerRecord{ID: "c-0"}, containerRecord{ID: "c-0", StartedAt: started},
			shim.Exit{ExitCode: 3}, "Error", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := t.TempDir()
			tt.exit.FinishedAt = time.Now()
			if err := writeJSON(filepath.Join(bundle, "container.json"), tt.onDisk); err != nil {
				t.Fatal(err)
			}
			if err := writeJSON(filepath.Join(bundle, shim.ExitFile), tt.exit); err != nil {
				t.Fatal(err)
			}
			c, _ := (&Runtime{}).containerFrom(bundle, tt.read)
			if c.Reason != tt.wantWhy || c.ExitCode != tt.wantCode {
				t.Fatalf("reason %q exit %d, want %q %d", c.Reason, c.ExitCode, tt.wantWhy, tt.wantCode)
			}
		})
	}
}

// A container whose process and shim are gone with no exit record is lost
// (137) — unless its bundle is being removed, which takes the exit record
// with it: a pod listed while its containers are removed must not report
// them as killed.
func TestGoneContainer(t *testing.T) {
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	gone := containerRecord{ID: "c-0", StartedAt: time.Now(), PID: done.Process.Pid, ShimPID: done.Process.Pid}

	bundle := t.TempDir()
	if err := writeJSON(filepath.Join(bundle, "container.json"), gone); err != nil {
		t.Fatal(err)
	}
	c, ok := (&Runtime{}).containerFrom(bundle, gone)
	if !ok || c.State != kruntime.StateExited || c.ExitCode != 137 {
		t.Fatalf("lost container: ok=%v %+v, want exited 137", ok, c)
	}

	// removeBundle renames the record before anything else goes.
	if err := os.Rename(filepath.Join(bundle, "container.json"), filepath.Join(bundle, removingFile)); err != nil {
		t.Fatal(err)
	}
	if c, ok := (&Runtime{}).containerFrom(bundle, gone); ok {
		t.Fatalf("container being removed reported: %+v", c)
	}
}

// A privileged container gets the capabilities the kubelet may hold, not
// more: runc refuses to apply one outside the bounding set, so a host
// without CAP_SYS_RESOURCE (some VMs) would fail every privileged pod.
func TestPrivilegedCapabilitiesWithinBound(t *testing.T) {
	all := allCapabilities()
	if all[24] != "CAP_SYS_RESOURCE" || all[21] != "CAP_SYS_ADMIN" || all[40] != "CAP_CHECKPOINT_RESTORE" {
		t.Fatalf("capabilities out of number order: %v", all)
	}
	bound := uint64(1<<41-1) &^ (1 << 24)
	got := withinBound(all, bound)
	if len(got) != len(all)-1 || slices.Contains(got, "CAP_SYS_RESOURCE") || !slices.Contains(got, "CAP_SYS_ADMIN") {
		t.Fatalf("within a bound without SYS_RESOURCE: %v", got)
	}
	// This process's own bound: whatever the host, a privileged
	// container asks for nothing outside it.
	own := capabilityBound()
	for _, c := range boundedCapabilities() {
		i := slices.Index(all, c)
		if own&(1<<uint(i)) == 0 {
			t.Errorf("%s is outside this process's bounding set %x", c, own)
		}
	}
}
