package runc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"coracle.dev/kubelet/internal/cgroups"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/shim"
)

// startShim starts the container's shim and waits until it has created
// the container; it returns the container's and the shim's PIDs.
func (r *Runtime) startShim(bundle, id string, cfg kruntime.ContainerConfig) (int, int, error) {
	sc := shim.Config{
		Runc: r.runc, RuncRoot: filepath.Join(r.opts.RootDir, "runc"), Bundle: bundle, ID: id,
		LogPath: cfg.LogPath, LogMaxSize: r.opts.LogMaxSize, LogMaxFiles: r.opts.LogMaxFiles,
		MemoryCgroup: cgroups.MemoryDir(filepath.Join(r.opts.CgroupRoot, "pod"+filepath.Base(filepath.Dir(filepath.Dir(bundle))), cfg.Name+"-"+itoa(cfg.Attempt))),
		TTY:          cfg.TTY, Stdin: cfg.Stdin, StdinOnce: cfg.StdinOnce,
	}
	env, err := json.Marshal(sc)
	if err != nil {
		return 0, 0, err
	}
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer syncR.Close()
	shimLog, err := os.OpenFile(filepath.Join(bundle, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		syncW.Close()
		return 0, 0, err
	}
	defer shimLog.Close()
	cmd := exec.Command(r.opts.ShimPath)
	cmd.Env = append(os.Environ(), shim.Env+"="+string(env))
	cmd.Stdout, cmd.Stderr = shimLog, shimLog
	cmd.ExtraFiles = []*os.File{syncW}
	cmd.Dir = "/"
	// Its own session: signals to the kubelet's process group (Ctrl-C,
	// a service manager's stop) do not reach containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		syncW.Close()
		return 0, 0, fmt.Errorf("start shim: %w", err)
	}
	syncW.Close()
	// Reap the shim when it exits, as long as this kubelet lives.
	go func() { _ = cmd.Wait() }()
	var reply shim.Reply
	if err := json.NewDecoder(syncR).Decode(&reply); err != nil {
		b, _ := os.ReadFile(filepath.Join(bundle, "shim.log"))
		return 0, 0, fmt.Errorf("shim: %v: %s", err, strings.TrimSpace(string(b)))
	}
	if reply.Error != "" {
		return 0, 0, errors.New(reply.Error)
	}
	return reply.PID, cmd.Process.Pid, nil
}
