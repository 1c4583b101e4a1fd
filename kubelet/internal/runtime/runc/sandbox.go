package runc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EnsureSandbox implements kruntime.Runtime: the pod's namespaces and
// network, its /dev/shm and its hosts, resolv.conf and hostname files.
func (r *Runtime) EnsureSandbox(ctx context.Context, pod *v1.Pod) (string, error) {
	uid := string(pod.UID)
	dir := r.podDir(uid)
	rec := podRecord{}
	if err := readJSON(filepath.Join(dir, "pod.json"), &rec); err == nil && rec.SandboxReady {
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
	if rec.SandboxReady || rec.IP != "" {
		rec.SandboxReady, rec.IP = false, ""
		return writeJSON(filepath.Join(dir, "pod.json"), rec)
	}
	return nil
}
