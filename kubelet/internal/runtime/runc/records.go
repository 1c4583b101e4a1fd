package runc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"coracle.dev/kubelet/internal/network/cni"
)

// The runtime's state lives in files, so a restarted kubelet finds every
// pod and container again:
//
//	ROOT/pods/<uid>/pod.json                       podRecord
//	ROOT/pods/<uid>/{hosts,resolv.conf,hostname}   files bound into containers
//	ROOT/pods/<uid>/shm/                           the pod's /dev/shm (tmpfs)
//	ROOT/pods/<uid>/containers/<name>-<attempt>/   a bundle: config.json,
//	    rootfs/ (overlay), fs/{upper,work}, container.json, exit.json
//	ROOT/runc/                                     runc's --root

// podRecord is a pod as the runtime keeps it.
type podRecord struct {
	UID          string            `json:"uid"`
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	NodeName     string            `json:"nodeName"`
	IP           string            `json:"ip,omitempty"`
	SandboxReady bool              `json:"sandboxReady"`
	GraceSeconds int64             `json:"graceSeconds"`
	LogDir       string            `json:"logDir"`
	Ports        []cni.PortMapping `json:"ports,omitempty"`
	HostNetwork  bool              `json:"hostNetwork,omitempty"`
	// PausePID and PausePIDStart identify the pause process holding the
	// pod's shared PID namespace (shareProcessNamespace), 0 for none.
	PausePID      int    `json:"pausePid,omitempty"`
	PausePIDStart uint64 `json:"pausePidStart,omitempty"`
}

// containerRecord is one container attempt, written at creation.
type containerRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Attempt   int       `json:"attempt"`
	Image     string    `json:"image"`
	ImageRef  string    `json:"imageRef"`
	CreatedAt time.Time `json:"createdAt"`
	StartedAt time.Time `json:"startedAt,omitempty"`
	// StartFailed is set when runc start failed.
	StartFailed bool `json:"startFailed,omitempty"`
	// PID and PIDStart (the process's start time in clock ticks since
	// boot) identify the container's first process, even if its PID is
	// reused after it exits.
	PID        int    `json:"pid"`
	PIDStart   uint64 `json:"pidStart"`
	ShimPID    int    `json:"shimPid"`
	LogPath    string `json:"logPath"`
	CgroupPath string `json:"cgroupPath"`
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSON writes through a temporary file and a rename: a reader, or a
// kubelet killed mid-write, never sees half a record. There is no fsync:
// records need to survive the kubelet, not the machine, whose crash ends
// the containers too.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (r *Runtime) podDir(uid string) string { return filepath.Join(r.opts.RootDir, "pods", uid) }

func (r *Runtime) containerDir(uid, name string, attempt int) string {
	return filepath.Join(r.podDir(uid), "containers", name+"-"+itoa(attempt))
}
