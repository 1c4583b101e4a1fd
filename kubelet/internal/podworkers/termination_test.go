package podworkers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/logs"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/volumes"
)

// TestTerminationMessage reads messages as upstream's
// getTerminationMessage does: the file's last 4096 bytes; with
// FallbackToLogsOnError, the log's last 80 lines and of them the last
// 2048 bytes when the file is empty and the container failed.
func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	m := &Manager{opts: Options{Volumes: &volumes.Manager{Dir: dir}}}
	pod := testPod("p", 0)

	logPath := filepath.Join(dir, "log", "0.log")
	lw, err := logs.NewWriter(logPath, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&lines, "line %03d\n", i)
	}
	if err := lw.Copy("stdout", strings.NewReader(lines.String())); err != nil {
		t.Fatal(err)
	}
	lw.Close()
	// The last 80 lines are 720 bytes: all of them.
	var last80 strings.Builder
	for i := 21; i <= 100; i++ {
		fmt.Fprintf(&last80, "line %03d\n", i)
	}

	longLog := filepath.Join(dir, "log", "long.log")
	lw, _ = logs.NewWriter(longLog, 0, 1)
	long := strings.Repeat("x", 99) + "\n"
	_ = lw.Copy("stderr", strings.NewReader(strings.Repeat(long, 50)))
	lw.Close()

	tests := []struct {
		name     string
		file     string // the file's content; "-" for no file
		policy   v1.TerminationMessagePolicy
		exitCode int
		log      string
		want     string
	}{
		{name: "file", file: "bye", exitCode: 3, want: "bye"},
		{name: "file wins over logs", file: "bye", policy: v1.TerminationMessageFallbackToLogsOnError, exitCode: 3, log: logPath, want: "bye"},
		{name: "empty file, File policy", file: "", exitCode: 3, log: logPath, want: ""},
		{name: "empty file, failed: the log's last 80 lines", file: "", policy: v1.TerminationMessageFallbackToLogsOnError, exitCode: 1, log: logPath, want: last80.String()},
		{name: "no file, failed: the log", file: "-", policy: v1.TerminationMessageFallbackToLogsOnError, exitCode: 1, log: logPath, want: last80.String()},
		{name: "empty file, succeeded: no log", file: "", policy: v1.TerminationMessageFallbackToLogsOnError, exitCode: 0, log: logPath, want: ""},
		{name: "long log: its last 2048 bytes", file: "", policy: v1.TerminationMessageFallbackToLogsOnError, exitCode: 2, log: longLog, want: strings.Repeat(long, 50)[5000-2048:]},
		{name: "long file: its last 4096 bytes", file: strings.Repeat("a", 100) + strings.Repeat("b", 4096), exitCode: 1, want: strings.Repeat("b", 4096)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &v1.Container{Name: "c", TerminationMessagePolicy: tt.policy}
			if tt.file != "-" {
				mnt, ok := m.terminationMount(pod, c, i)
				if !ok || mnt.Destination != "/dev/termination-log" {
					t.Fatalf("mount %+v, %v", mnt, ok)
				}
				if err := os.WriteFile(mnt.Source, []byte(tt.file), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			ctr := &kruntime.Container{Name: "c", Attempt: i, State: kruntime.StateExited, ExitCode: tt.exitCode, LogPath: tt.log}
			if got := m.terminationMessage(context.Background(), pod, c, ctr); got != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSetTerminationMessages: each container's message is cut to its
// share of the pod's 12 KiB.
func TestSetTerminationMessages(t *testing.T) {
	m := &Manager{opts: Options{Volumes: &volumes.Manager{Dir: t.TempDir()}}}
	pod := testPod("p", 0)
	pod.Spec.Containers = []v1.Container{{Name: "a"}, {Name: "b"}, {Name: "c", TerminationMessagePath: "/tmp/msg"}, {Name: "d"}}
	rp := &kruntime.Pod{}
	st := &v1.PodStatus{}
	for i, c := range pod.Spec.Containers {
		mnt, _ := m.terminationMount(pod, &c, 0)
		if c.Name == "c" && mnt.Destination != "/tmp/msg" {
			t.Errorf("mounted at %s", mnt.Destination)
		}
		_ = os.WriteFile(mnt.Source, []byte(strings.Repeat(c.Name, 4000)), 0o666)
		id := fmt.Sprintf("id%d", i)
		rp.Containers = append(rp.Containers, kruntime.Container{Name: c.Name, ID: id, State: kruntime.StateExited})
		st.ContainerStatuses = append(st.ContainerStatuses, v1.ContainerStatus{Name: c.Name, State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ContainerID: "runc://" + id}}})
	}
	w := &worker{}
	m.setTerminationMessages(context.Background(), w, pod, rp, st)
	for _, cs := range st.ContainerStatuses {
		if want := strings.Repeat(cs.Name, 3072); cs.State.Terminated.Message != want {
			t.Errorf("%s: message of %d bytes, want its 3072", cs.Name, len(cs.State.Terminated.Message))
		}
	}
	// Removed attempts are forgotten.
	rp.Containers = rp.Containers[:1]
	m.setTerminationMessages(context.Background(), w, pod, rp, &v1.PodStatus{})
	if len(w.messages) != 1 {
		t.Errorf("remembered %d messages", len(w.messages))
	}
}
