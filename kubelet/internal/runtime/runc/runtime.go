// Package runc runs pods with runc, shim-less in the kubelet but with one
// small monitor process (the shim, see shim.go) per container so that
// containers outlive the kubelet: a restarted kubelet finds every pod and
// container from the records under its root directory (records.go), and
// adopts the running ones with the same processes. Each container's root
// file system is an overlay mount on its image's unpacked layers; each pod
// gets a cgroup under --cgroup-root and each container one inside it
// (cgroups.go).
//
// A pod's sandbox (sandbox.go) is what its containers share: namespaces
// attached to the pod network by CNI (network.go), /dev/shm, and the
// hosts, resolv.conf and hostname files (podfiles.go). Containers
// (containers.go) are created from an OCI spec (spec.go), started,
// stopped and removed, and their state is read back from the records and
// their processes (process.go); pods.go lists and removes whole pods,
// exits.go notices containers that exit, exec.go runs commands in them.
package runc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kubelet/internal/dns"
	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/network/cni"
	kruntime "coracle.dev/kubelet/internal/runtime"
)

// Options configure the runtime.
type Options struct {
	// RootDir holds the runtime's records, bundles and runc's state.
	RootDir string
	// Runc is the runc binary; empty looks it up in PATH (and /usr/sbin).
	Runc string
	// CgroupRoot is the cgroup pods are made under (/coracle).
	CgroupRoot string
	Images     *images.Store
	Network    *cni.Network
	// ShimPath is the shim binary (cmd/kubelet-shim); empty looks for
	// kubelet-shim (or coracle-kubelet-shim) beside this executable, then
	// in PATH.
	ShimPath    string
	LogMaxSize  int64
	LogMaxFiles int
	// SeccompProfileRoot is the directory of Localhost seccomp profiles
	// (<root-dir>/seccomp, as Kubernetes' kubelet).
	SeccompProfileRoot string
	// DNS forms pods' resolv.conf, host names and hosts files; nil gives
	// pods the node's /etc/resolv.conf and no cluster DNS.
	DNS *dns.Configurer
	// Recorder returns a node's event recorder, for the warnings of
	// forming a pod's DNS; nil (or a nil recorder) records none.
	Recorder func(node string) record.EventRecorder
	Log      *zap.Logger
}

// Runtime is the runc runtime.
type Runtime struct {
	opts    Options
	log     *zap.Logger
	dns     *dns.Configurer
	runc    string
	version string
	changes chan types.UID

	mu   sync.Mutex // guards live
	live map[string]types.UID
	// live maps the bundle of each container not yet seen exited to its
	// pod, for the exit watcher.
	stop chan struct{}
}

var _ kruntime.Runtime = &Runtime{}

// New returns the runtime and starts its exit watcher.
func New(opts Options) (*Runtime, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.ShimPath == "" {
		opts.ShimPath = FindShim()
	}
	r := &Runtime{opts: opts, log: opts.Log, dns: opts.DNS, changes: make(chan types.UID, 256), live: map[string]types.UID{}, stop: make(chan struct{})}
	if r.dns == nil {
		r.dns = &dns.Configurer{ResolverConfig: dns.DefaultResolvConf}
	}
	r.runc = opts.Runc
	if r.runc == "" {
		if p, err := exec.LookPath("runc"); err == nil {
			r.runc = p
		} else if _, err := os.Stat("/usr/sbin/runc"); err == nil {
			r.runc = "/usr/sbin/runc"
		}
	}
	if r.runc != "" {
		if out, err := exec.Command(r.runc, "--version").Output(); err == nil {
			first, _, _ := strings.Cut(string(out), "\n")
			r.version = strings.TrimSpace(strings.TrimPrefix(first, "runc version"))
		}
	}
	for _, d := range []string{"pods", "runc"} {
		if err := os.MkdirAll(filepath.Join(opts.RootDir, d), 0o700); err != nil {
			return nil, err
		}
	}
	go r.watchExits()
	return r, nil
}

// FindShim returns the shim binary beside this executable or in PATH, or
// "" if there is none.
func FindShim() string {
	names := []string{"kubelet-shim", "coracle-kubelet-shim"}
	if exe, err := os.Executable(); err == nil {
		for _, n := range names {
			p := filepath.Join(filepath.Dir(exe), n)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// Close stops the exit watcher. Containers keep running.
func (r *Runtime) Close() { close(r.stop) }

// Type implements kruntime.Runtime.
func (r *Runtime) Type() string { return "runc" }

// Version implements kruntime.Runtime.
func (r *Runtime) Version() string {
	if r.version == "" {
		return "unknown"
	}
	return r.version
}

// Status implements kruntime.Runtime.
func (r *Runtime) Status() error {
	if r.runc == "" || r.version == "" {
		return errors.New("container runtime not ready: runc not found (install runc)")
	}
	if r.opts.ShimPath == "" {
		return errors.New("container runtime not ready: kubelet-shim not found beside the kubelet or in PATH")
	}
	return r.opts.Network.Ready()
}

// runcCmd runs runc with the runtime's state root.
func (r *Runtime) runcCmd(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.runc, append([]string{"--root", filepath.Join(r.opts.RootDir, "runc")}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("runc %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}
