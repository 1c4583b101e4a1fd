package runc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/shim"
)

// CreateContainer implements kruntime.Runtime: the bundle, the overlay
// root file system, then the shim, which runs `runc create`.
func (r *Runtime) CreateContainer(ctx context.Context, pod *v1.Pod, cfg kruntime.ContainerConfig) (*kruntime.Container, error) {
	uid := string(pod.UID)
	var spec *v1.Container
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == cfg.Name {
			spec = &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == cfg.Name {
			spec = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == cfg.Name {
			// The same fields as a container's, as upstream converts.
			c := v1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			spec = &c
		}
	}
	if spec == nil {
		return nil, fmt.Errorf("create container: pod has no container %q", cfg.Name)
	}
	podDir := r.podDir(uid)
	rec := podRecord{}
	if err := readJSON(filepath.Join(podDir, "pod.json"), &rec); err != nil || !rec.SandboxReady {
		return nil, fmt.Errorf("create container %s: pod has no sandbox", cfg.Name)
	}
	if rec.LogDir == "" {
		rec.LogDir = filepath.Dir(filepath.Dir(cfg.LogPath))
		if err := writeJSON(filepath.Join(podDir, "pod.json"), rec); err != nil {
			return nil, err
		}
	}
	pidNS, err := r.pidNamespace(pod, rec, cfg)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", cfg.Name, err)
	}
	// The spec first: a security context the runtime cannot apply (a
	// missing seccomp profile) leaves nothing behind.
	cgroupPath := filepath.Join(r.opts.CgroupRoot, "pod"+uid, cfg.Name+"-"+itoa(cfg.Attempt))
	sandbox := r.opts.Network.SandboxOf(uid, rec.HostNetwork)
	s, err := buildSpec(specInput{
		cfg: cfg, container: spec, pod: pod, sandbox: sandbox, podDir: podDir, cgroupPath: cgroupPath, pidNS: pidNS,
		seccompRoot: r.opts.SeccompProfileRoot,
	})
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", cfg.Name, err)
	}
	bundle := r.containerDir(uid, cfg.Name, cfg.Attempt)
	if _, err := os.Stat(bundle); err == nil {
		// A creation that died half-way: start over.
		if err := r.removeBundle(ctx, bundle); err != nil {
			return nil, err
		}
	}
	lowers, err := r.opts.Images.LayerDirs(cfg.ImageRef)
	if err != nil {
		return nil, err
	}
	rootfs := filepath.Join(bundle, "rootfs")
	upper, work := filepath.Join(bundle, "fs", "upper"), filepath.Join(bundle, "fs", "work")
	for _, d := range []string{rootfs, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	id := containerID(uid, cfg.Name, cfg.Attempt)
	crec := containerRecord{
		ID: id, Name: cfg.Name, Attempt: cfg.Attempt, Image: cfg.Image, ImageRef: cfg.ImageRef,
		CreatedAt: time.Now(), LogPath: cfg.LogPath, CgroupPath: cgroupPath,
	}
	if err := writeJSON(filepath.Join(bundle, "container.json"), crec); err != nil {
		return nil, err
	}
	if err := recordResources(bundle, cfg.Resources()); err != nil {
		return nil, err
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return nil, fmt.Errorf("mount root file system: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return nil, err
	}
	pid, shimPID, err := r.startShim(bundle, id, cfg)
	if err != nil {
		_ = r.removeBundle(ctx, bundle)
		return nil, err
	}
	crec.PID, crec.ShimPID = pid, shimPID
	crec.PIDStart, _ = processStart(pid)
	if err := writeJSON(filepath.Join(bundle, "container.json"), crec); err != nil {
		return nil, err
	}
	r.watch(bundle, pod.UID)
	c, _ := r.containerFrom(bundle, crec)
	return &c, nil
}

// pidNamespace is the PID namespace file the container joins: the
// pod's shared one, or its target's (an ephemeral container's
// targetContainerName); "" for a namespace of its own or the host's.
func (r *Runtime) pidNamespace(pod *v1.Pod, rec podRecord, cfg kruntime.ContainerConfig) (string, error) {
	switch {
	case pod.Spec.HostPID:
		return "", nil
	case sharesPIDNamespace(pod):
		return r.pauseNamespace(rec)
	case cfg.TargetPID > 0:
		// The target's process, not a later one with its PID, must still
		// be there when runc joins: checked as close to that as can be.
		if _, err := processStart(cfg.TargetPID); err != nil {
			return "", fmt.Errorf("target container's process %d is not running", cfg.TargetPID)
		}
		return fmt.Sprintf("/proc/%d/ns/pid", cfg.TargetPID), nil
	}
	return "", nil
}

// StartContainer implements kruntime.Runtime.
func (r *Runtime) StartContainer(ctx context.Context, uid types.UID, id string) error {
	bundle, crec, err := r.findContainer(uid, id)
	if err != nil {
		return err
	}
	// Recorded before the process runs: one that exits at once must not
	// look as if it never started.
	crec.StartedAt = time.Now()
	if err := writeJSON(filepath.Join(bundle, "container.json"), crec); err != nil {
		return err
	}
	if _, err := r.runcCmd(ctx, "start", id); err != nil {
		if r.pastStartFifo(id) {
			// The process was released and ran; runc start failed
			// after that, when a process that ended at once had
			// already been cleaned up ("remove …/exec.fifo: no such
			// file or directory"). Its exit record says how it ended.
			return nil
		}
		// It will never run: record it as exited, as containerd records
		// a StartError, so the restart policy decides what is next.
		crec.StartFailed = true
		if werr := writeJSON(filepath.Join(bundle, "container.json"), crec); werr != nil {
			return werr
		}
		_ = r.StopContainer(ctx, uid, id, 0)
		return err
	}
	return nil
}

// pastStartFifo reports whether container id's process has been released
// by runc start: runc's init waits on the container's exec.fifo until
// start opens it, and the fifo goes once it has been. A fifo still there
// means the process never ran.
func (r *Runtime) pastStartFifo(id string) bool {
	_, err := os.Stat(filepath.Join(r.opts.RootDir, "runc", id, "exec.fifo"))
	return errors.Is(err, os.ErrNotExist)
}

// StopContainer implements kruntime.Runtime.
func (r *Runtime) StopContainer(ctx context.Context, uid types.UID, id string, grace time.Duration) error {
	bundle, crec, err := r.findContainer(uid, id)
	if err != nil {
		if errors.Is(err, kruntime.ErrNotFound) {
			return nil
		}
		return err
	}
	exitFile := filepath.Join(bundle, "exit.json")
	exited := func() bool { _, err := os.Stat(exitFile); return err == nil }
	if exited() {
		return nil
	}
	if !r.alive(crec) {
		return r.recordLostExit(bundle, crec)
	}
	wait := func(d time.Duration) bool {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if exited() {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return exited()
	}
	if grace > 0 {
		if err := unix.Kill(crec.PID, unix.SIGTERM); err == nil && wait(grace) {
			return nil
		}
	}
	_ = unix.Kill(crec.PID, unix.SIGKILL)
	if wait(10 * time.Second) {
		return nil
	}
	if !r.alive(crec) {
		return r.recordLostExit(bundle, crec)
	}
	return fmt.Errorf("stop container %s: still running after SIGKILL", id)
}

// recordLostExit writes the exit record of a container whose shim died
// before writing one: the exit code is unknown.
func (r *Runtime) recordLostExit(bundle string, crec containerRecord) error {
	// A shim alive will write it: it may first wait up to 2 s for the
	// container's last output, longer on a busy node.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && r.alive(containerRecord{PID: crec.ShimPID}); {
		if fileExists(filepath.Join(bundle, "exit.json")) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(bundle, "exit.json")); err == nil || !fileExists(filepath.Join(bundle, "container.json")) {
		// Exited, or being removed (which keeps no exit record).
		return nil
	}
	_, _ = r.runcCmd(context.Background(), "delete", "--force", crec.ID)
	return writeJSON(filepath.Join(bundle, shim.ExitFile), shim.Exit{ExitCode: 137, FinishedAt: time.Now()})
}

// RemoveContainer implements kruntime.Runtime.
func (r *Runtime) RemoveContainer(ctx context.Context, uid types.UID, id string) error {
	bundle, crec, err := r.findContainer(uid, id)
	if errors.Is(err, kruntime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.removeBundle(ctx, bundle); err != nil {
		return err
	}
	for _, f := range append(rotatedLogs(crec.LogPath), crec.LogPath) {
		_ = os.Remove(f)
	}
	return nil
}

func rotatedLogs(path string) []string {
	m, _ := filepath.Glob(path + ".*")
	return m
}

// removeBundle deletes runc's state, unmounts the root file system and
// removes the bundle.
func (r *Runtime) removeBundle(ctx context.Context, bundle string) error {
	crec := containerRecord{}
	record, removing := filepath.Join(bundle, "container.json"), filepath.Join(bundle, removingFile)
	err := readJSON(record, &crec)
	if os.IsNotExist(err) {
		// A removal that stopped half-way.
		err = readJSON(removing, &crec)
	}
	if err == nil {
		if _, err := os.Stat(filepath.Join(bundle, "exit.json")); err != nil && r.alive(crec) {
			return fmt.Errorf("remove container %s: still running", crec.ID)
		}
		// The record goes first, in one step: a reader that finds the
		// exit record gone finds the container record gone too, and
		// knows the container is being removed, not lost.
		if err := os.Rename(record, removing); err != nil && !os.IsNotExist(err) {
			return err
		}
		_, _ = r.runcCmd(ctx, "delete", "--force", crec.ID)
		removeCgroup(crec.CgroupPath)
	}
	if err := unmount(filepath.Join(bundle, "rootfs")); err != nil {
		return err
	}
	return os.RemoveAll(bundle)
}

// removingFile is a container record's name while its bundle is removed.
const removingFile = "removing.json"

// containerFrom derives a container's state from its records and its
// process. It is false for a container whose bundle is being removed
// since crec was read: it is not reported, and its missing exit record
// does not make it lost.
func (r *Runtime) containerFrom(bundle string, crec containerRecord) (kruntime.Container, bool) {
	c := kruntime.Container{
		Name: crec.Name, Attempt: crec.Attempt, ID: crec.ID, Image: crec.Image, ImageRef: crec.ImageRef,
		PID: crec.PID, CreatedAt: crec.CreatedAt, StartedAt: crec.StartedAt, LogPath: crec.LogPath,
		Resources: appliedResources(bundle),
	}
	exit := shim.Exit{}
	switch err := readJSON(filepath.Join(bundle, "exit.json"), &exit); {
	case err == nil:
		if crec.StartedAt.IsZero() && !crec.StartFailed {
			// crec may predate StartContainer's write, which comes
			// before the process can run and so before its exit
			// record: read again before calling it a StartError.
			fresh := containerRecord{}
			if readJSON(filepath.Join(bundle, "container.json"), &fresh) == nil && fresh.ID == crec.ID {
				crec = fresh
				c.StartedAt = crec.StartedAt
			}
		}
		c.State, c.ExitCode, c.FinishedAt, c.PID = kruntime.StateExited, exit.ExitCode, exit.FinishedAt, 0
		if c.StartedAt.IsZero() {
			c.StartedAt = exit.FinishedAt
		}
		switch {
		case exit.OOMKilled:
			c.Reason = "OOMKilled"
		case crec.StartedAt.IsZero(), crec.StartFailed && exit.Signal != 0:
			// It never ran: runc start failed, and the process waiting
			// to be started was killed. (A start that failed and an
			// exit that is not a kill is runc start losing the race
			// with a process that ran and ended at once: "container
			// process is already dead". The process ran; its exit
			// code says how.)
			c.Reason = "StartError"
		case exit.ExitCode == 0:
			c.Reason = "Completed"
		default:
			c.Reason = "Error"
		}
	case crec.PID == 0:
		// Being created.
		c.State = kruntime.StateCreated
	case !r.alive(crec):
		// Judged on this one look at the process: had each case below
		// looked again, a process ending between two looks would seem
		// alive to the shim's case and dead to the last, and a container
		// that exited 0 would be reported lost (137).
		return r.endedWithoutRecord(bundle, crec, c)
	case crec.StartedAt.IsZero() || stillInit(crec.PID):
		c.State = kruntime.StateCreated
	default:
		c.State = kruntime.StateRunning
	}
	return c, true
}

// endedWithoutRecord is the state of a container whose process has ended
// (or is a zombie) and whose exit record was not there when looked for.
func (r *Runtime) endedWithoutRecord(bundle string, crec containerRecord, c kruntime.Container) (kruntime.Container, bool) {
	switch {
	case crec.ShimPID > 0 && r.alive(containerRecord{PID: crec.ShimPID}):
		// Its shim, alive, is about to record how it ended: running
		// until that record is there. A short-lived container looked at
		// in that moment is not lost.
		c.State = kruntime.StateRunning
	case fileExists(filepath.Join(bundle, "exit.json")):
		// The shim wrote the record (and ended) since it was looked for.
		return r.containerFrom(bundle, crec)
	case !fileExists(filepath.Join(bundle, "container.json")):
		// Being removed: the exit record went with the bundle.
		return c, false
	default:
		// Gone with no exit record: the shim was killed. Its exit code
		// is lost.
		c.State, c.ExitCode, c.Reason, c.PID = kruntime.StateExited, 137, "Error", 0
		c.FinishedAt = time.Now()
		if c.StartedAt.IsZero() {
			c.StartedAt = c.FinishedAt
		}
	}
	return c, true
}

// stillInit reports whether the process is runc's init still waiting
// for `runc start` (a kubelet died between recording the start and
// making it).
func stillInit(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/comm")
	return err == nil && strings.HasPrefix(string(b), "runc:[2:INIT]")
}

func (r *Runtime) findContainer(uid types.UID, id string) (string, containerRecord, error) {
	bundles, _ := filepath.Glob(filepath.Join(r.podDir(string(uid)), "containers", "*"))
	for _, b := range bundles {
		crec := containerRecord{}
		if err := readJSON(filepath.Join(b, "container.json"), &crec); err == nil && crec.ID == id {
			return b, crec, nil
		}
	}
	return "", containerRecord{}, fmt.Errorf("container %s: %w", id, kruntime.ErrNotFound)
}

// containerID is runc's name of a container attempt: unique on the node
// and readable.
func containerID(uid, name string, attempt int) string {
	return name + "-" + itoa(attempt) + "-" + uid
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
