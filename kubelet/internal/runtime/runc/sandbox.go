package runc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/kubelet/internal/pause"
)

// EnsureSandbox implements kruntime.Runtime: the pod's namespaces and
// network, its /dev/shm and its hosts, resolv.conf and hostname files.
func (r *Runtime) EnsureSandbox(ctx context.Context, pod *v1.Pod) (string, error) {
	uid := string(pod.UID)
	dir := r.podDir(uid)
	rec := podRecord{}
	if err := readJSON(filepath.Join(dir, "pod.json"), &rec); err == nil && rec.SandboxReady {
		if err := r.ensurePause(pod, &rec); err != nil {
			return "", err
		}
		return rec.IP, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "containers"), 0o700); err != nil {
		return "", err
	}
	grace := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	rec = podRecord{
		UID: uid, Namespace: pod.Namespace, Name: pod.Name, NodeName: pod.Spec.NodeName, GraceSeconds: grace,
		LogDir: rec.LogDir, Ports: portMappings(pod), HostNetwork: pod.Spec.HostNetwork,
	}
	// The record is written first, so a sandbox half made before a crash
	// is found and torn down.
	if err := writeJSON(filepath.Join(dir, "pod.json"), rec); err != nil {
		return "", err
	}
	names, err := r.podNames(pod)
	if err != nil {
		return "", err
	}
	if pod.Spec.HostNetwork {
		// The node's network: no hostPorts to map.
		rec.Ports = nil
	}
	ip, err := r.attachNetwork(ctx, rec, names.uts)
	if err != nil {
		return "", err
	}
	if err := mountShm(filepath.Join(dir, "shm")); err != nil {
		return "", err
	}
	if err := writePodFiles(dir, pod, names, ip); err != nil {
		return "", err
	}
	rec.IP, rec.SandboxReady = ip, true
	if err := r.ensurePause(pod, &rec); err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(dir, "pod.json"), rec); err != nil {
		return "", err
	}
	return ip, nil
}

// mountShm mounts the pod's /dev/shm, a tmpfs its containers share.
func mountShm(shm string) error {
	if err := os.MkdirAll(shm, 0o755); err != nil {
		return err
	}
	if isMountPoint(shm) {
		return nil
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("pod /dev/shm: %w", err)
	}
	return nil
}

// RemoveSandbox implements kruntime.Runtime.
func (r *Runtime) RemoveSandbox(ctx context.Context, uid types.UID) error {
	dir := r.podDir(string(uid))
	rec := podRecord{}
	if err := readJSON(filepath.Join(dir, "pod.json"), &rec); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if err := r.detachNetwork(ctx, rec); err != nil {
		return err
	}
	if err := unmount(filepath.Join(dir, "shm")); err != nil {
		return err
	}
	if err := r.stopPause(rec); err != nil {
		return err
	}
	if rec.SandboxReady || rec.IP != "" || rec.PausePID != 0 {
		rec.SandboxReady, rec.IP, rec.PausePID, rec.PausePIDStart = false, "", 0, 0
		return writeJSON(filepath.Join(dir, "pod.json"), rec)
	}
	return nil
}

// A pod with shareProcessNamespace gets one PID namespace for all its
// containers, held by a pause process as upstream's pause container
// holds it: the shim binary in pause mode (package pause), started by
// the runtime as PID 1 of a new PID namespace when the sandbox is made,
// recorded in pod.json so a restarted kubelet finds it, and killed when
// the sandbox is removed. Containers join /proc/<pause>/ns/pid.

// sharesPIDNamespace reports whether the pod's containers share one PID
// namespace of their own (not the host's).
func sharesPIDNamespace(pod *v1.Pod) bool {
	return pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace && !pod.Spec.HostPID
}

// ensurePause starts the pod's pause process unless it needs none or
// has one alive, and records it in rec (the caller writes rec). A pause
// process that died took the namespace and every process in it along;
// a new one gives the containers made next a namespace again.
func (r *Runtime) ensurePause(pod *v1.Pod, rec *podRecord) error {
	if !sharesPIDNamespace(pod) {
		return nil
	}
	if rec.PausePID != 0 && r.alive(containerRecord{PID: rec.PausePID, PIDStart: rec.PausePIDStart}) {
		return nil
	}
	if r.opts.ShimPath == "" {
		return errors.New("shared PID namespace: kubelet-shim not found")
	}
	dir := r.podDir(rec.UID)
	cmd := &exec.Cmd{Path: r.opts.ShimPath, Args: []string{pause.Name}, Dir: "/", Env: []string{pause.Env + "=" + dir}}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own session, as the shims: the kubelet's signals do not
		// reach it. PID 1 of a new PID namespace.
		Setsid:     true,
		Cloneflags: unix.CLONE_NEWPID,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start pause process: %w", err)
	}
	// Reap it when it ends, as long as this kubelet lives.
	go func() { _ = cmd.Wait() }()
	start, err := processStart(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("pause process: %w", err)
	}
	rec.PausePID, rec.PausePIDStart = cmd.Process.Pid, start
	// Recorded at once: a pause started and forgotten would be leaked.
	return writeJSON(filepath.Join(dir, "pod.json"), *rec)
}

// pauseNamespace is the PID namespace file of the pod's pause process,
// or an error if the pod should have one and it is not running.
func (r *Runtime) pauseNamespace(rec podRecord) (string, error) {
	if rec.PausePID == 0 || !r.alive(containerRecord{PID: rec.PausePID, PIDStart: rec.PausePIDStart}) {
		return "", errors.New("the pod's shared PID namespace is gone (its pause process is not running)")
	}
	return fmt.Sprintf("/proc/%d/ns/pid", rec.PausePID), nil
}

// stopPause kills the pod's pause process, if it has one, and waits for
// it to be gone (reaped by this kubelet, or by whoever adopted it after
// a restart).
func (r *Runtime) stopPause(rec podRecord) error {
	if rec.PausePID == 0 {
		return nil
	}
	p := containerRecord{PID: rec.PausePID, PIDStart: rec.PausePIDStart}
	if !r.alive(p) {
		return nil
	}
	if err := unix.Kill(rec.PausePID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill pause process: %w", err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !r.alive(p) {
			return nil
		}
	}
	return fmt.Errorf("pause process %d still running after SIGKILL", rec.PausePID)
}
