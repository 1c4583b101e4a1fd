// Package runc runs pods with runc, shim-less in the kubelet but with one
// small monitor process (the shim, see shim.go) per container so that
// containers outlive the kubelet: a restarted kubelet finds every pod and
// container from the records under its root directory, and adopts the
// running ones with the same processes. Each container's root file system
// is an overlay mount on its image's unpacked layers; each pod gets a
// cgroup under --cgroup-root and each container one inside it.
package runc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/kubelet/internal/images"
	"coracle.dev/kubelet/internal/network/cni"
	kruntime "coracle.dev/kubelet/internal/runtime"
	"coracle.dev/kubelet/internal/shim"
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
	Log         *zap.Logger
}

// Runtime is the runc runtime.
type Runtime struct {
	opts    Options
	log     *zap.Logger
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
	r := &Runtime{opts: opts, log: opts.Log, changes: make(chan types.UID, 256), live: map[string]types.UID{}, stop: make(chan struct{})}
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

// Changes implements kruntime.Runtime.
func (r *Runtime) Changes() <-chan types.UID { return r.changes }

// watchExits notices exit records of containers, so their pods sync at
// once instead of at the next resync.
func (r *Runtime) watchExits() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		var exited []types.UID
		for dir, uid := range r.live {
			if _, err := os.Stat(filepath.Join(dir, "exit.json")); err == nil {
				delete(r.live, dir)
				exited = append(exited, uid)
			} else if _, err := os.Stat(dir); err != nil {
				delete(r.live, dir)
			}
		}
		r.mu.Unlock()
		for _, uid := range exited {
			select {
			case r.changes <- uid:
			default:
			}
		}
	}
}

func (r *Runtime) watch(dir string, uid types.UID) {
	r.mu.Lock()
	r.live[dir] = uid
	r.mu.Unlock()
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
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = hostname[:63]
	}
	if pod.Spec.HostNetwork {
		// The node's host name and network; no hostPorts to map.
		hostname, _ = os.Hostname()
		rec.Ports = nil
	}
	sb, err := r.opts.Network.Setup(ctx, cni.Pod{UID: uid, Namespace: pod.Namespace, Name: pod.Name, Hostname: hostname, Ports: rec.Ports, HostNetwork: pod.Spec.HostNetwork})
	if err != nil {
		return "", err
	}
	shm := filepath.Join(dir, "shm")
	if err := os.MkdirAll(shm, 0o755); err != nil {
		return "", err
	}
	if !isMountPoint(shm) {
		if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
			return "", fmt.Errorf("pod /dev/shm: %w", err)
		}
	}
	fqdn := hostname
	if pod.Spec.Subdomain != "" {
		fqdn = hostname + "." + pod.Spec.Subdomain + "." + pod.Namespace + ".svc.cluster.local\t" + hostname
	}
	hosts := hostsFile(sb.IP, fqdn, pod.Spec.HostAliases)
	if pod.Spec.HostNetwork {
		hosts, _ = os.ReadFile("/etc/hosts")
	}
	files := map[string][]byte{
		"hosts":       hosts,
		"resolv.conf": resolvConf(pod),
		"hostname":    []byte(hostname + "\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	rec.IP, rec.SandboxReady = sb.IP, true
	if err := writeJSON(filepath.Join(dir, "pod.json"), rec); err != nil {
		return "", err
	}
	return sb.IP, nil
}

func portMappings(pod *v1.Pod) []cni.PortMapping {
	var out []cni.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, cni.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}

// resolvConf is the pod's resolv.conf: its dnsConfig, else the host's.
func resolvConf(pod *v1.Pod) []byte {
	host, _ := os.ReadFile("/etc/resolv.conf")
	dc := pod.Spec.DNSConfig
	if dc == nil || (pod.Spec.DNSPolicy != v1.DNSNone && len(dc.Nameservers) == 0) {
		return host
	}
	var b strings.Builder
	for _, ns := range dc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(dc.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dc.Searches, " "))
	}
	var opts []string
	for _, o := range dc.Options {
		if o.Value != nil {
			opts = append(opts, o.Name+":"+*o.Value)
		} else {
			opts = append(opts, o.Name)
		}
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return []byte(b.String())
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
	if err := r.opts.Network.Teardown(ctx, cni.Pod{UID: rec.UID, Namespace: rec.Namespace, Name: rec.Name, Ports: rec.Ports, HostNetwork: rec.HostNetwork}); err != nil {
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
	cgroupPath := filepath.Join(r.opts.CgroupRoot, "pod"+uid, cfg.Name+"-"+itoa(cfg.Attempt))
	crec := containerRecord{
		ID: id, Name: cfg.Name, Attempt: cfg.Attempt, Image: cfg.Image, ImageRef: cfg.ImageRef,
		CreatedAt: time.Now(), LogPath: cfg.LogPath, CgroupPath: cgroupPath,
	}
	if err := writeJSON(filepath.Join(bundle, "container.json"), crec); err != nil {
		return nil, err
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return nil, fmt.Errorf("mount root file system: %w", err)
	}
	sandbox := r.opts.Network.SandboxOf(uid, rec.HostNetwork)
	s := buildSpec(specInput{cfg: cfg, container: spec, pod: pod, sandbox: sandbox, podDir: podDir, cgroupPath: cgroupPath})
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
	c := r.containerFrom(bundle, crec)
	return &c, nil
}

// startShim starts the container's shim and waits until it has created
// the container; it returns the container's and the shim's PIDs.
func (r *Runtime) startShim(bundle, id string, cfg kruntime.ContainerConfig) (int, int, error) {
	sc := shim.Config{
		Runc: r.runc, RuncRoot: filepath.Join(r.opts.RootDir, "runc"), Bundle: bundle, ID: id,
		LogPath: cfg.LogPath, LogMaxSize: r.opts.LogMaxSize, LogMaxFiles: r.opts.LogMaxFiles,
		MemoryCgroup: memoryCgroupDir(filepath.Join(r.opts.CgroupRoot, "pod"+filepath.Base(filepath.Dir(filepath.Dir(bundle))), cfg.Name+"-"+itoa(cfg.Attempt))),
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
	if r.alive(containerRecord{PID: crec.ShimPID}) {
		// The shim is alive and will write it.
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(filepath.Join(bundle, "exit.json")); err == nil {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := os.Stat(filepath.Join(bundle, "exit.json")); err == nil {
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
	if err := readJSON(filepath.Join(bundle, "container.json"), &crec); err == nil {
		if _, err := os.Stat(filepath.Join(bundle, "exit.json")); err != nil && r.alive(crec) {
			return fmt.Errorf("remove container %s: still running", crec.ID)
		}
		_, _ = r.runcCmd(ctx, "delete", "--force", crec.ID)
		removeCgroup(crec.CgroupPath)
	}
	if err := unmount(filepath.Join(bundle, "rootfs")); err != nil {
		return err
	}
	return os.RemoveAll(bundle)
}

// RemovePod implements kruntime.Runtime.
func (r *Runtime) RemovePod(ctx context.Context, uid types.UID) error {
	dir := r.podDir(string(uid))
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "containers", "*"))
	for _, b := range bundles {
		if err := r.removeBundle(ctx, b); err != nil {
			return err
		}
	}
	if err := r.RemoveSandbox(ctx, uid); err != nil {
		return err
	}
	removeCgroup(filepath.Join(r.opts.CgroupRoot, "pod"+string(uid)))
	rec := podRecord{}
	if err := readJSON(filepath.Join(dir, "pod.json"), &rec); err == nil && rec.LogDir != "" {
		_ = os.RemoveAll(rec.LogDir)
	}
	return os.RemoveAll(dir)
}

// GetPod implements kruntime.Runtime.
func (r *Runtime) GetPod(_ context.Context, uid types.UID) (*kruntime.Pod, error) {
	return r.readPod(string(uid))
}

// ListPods implements kruntime.Runtime.
func (r *Runtime) ListPods(context.Context) ([]*kruntime.Pod, error) {
	entries, err := os.ReadDir(filepath.Join(r.opts.RootDir, "pods"))
	if err != nil {
		return nil, err
	}
	var out []*kruntime.Pod
	for _, e := range entries {
		p, err := r.readPod(e.Name())
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func (r *Runtime) readPod(uid string) (*kruntime.Pod, error) {
	dir := r.podDir(uid)
	rec := podRecord{}
	if err := readJSON(filepath.Join(dir, "pod.json"), &rec); err != nil {
		if os.IsNotExist(err) {
			if _, serr := os.Stat(dir); serr == nil {
				// A pod directory without a record: made by a kubelet that
				// died at once. Report it so it is removed.
				return &kruntime.Pod{UID: types.UID(uid)}, nil
			}
			return nil, kruntime.ErrNotFound
		}
		return nil, err
	}
	p := &kruntime.Pod{
		UID: types.UID(uid), Namespace: rec.Namespace, Name: rec.Name, NodeName: rec.NodeName,
		IP: rec.IP, SandboxReady: rec.SandboxReady, TerminationGracePeriod: time.Duration(rec.GraceSeconds) * time.Second,
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "containers", "*"))
	for _, b := range bundles {
		crec := containerRecord{}
		if err := readJSON(filepath.Join(b, "container.json"), &crec); err != nil {
			continue
		}
		c := r.containerFrom(b, crec)
		if c.State != kruntime.StateExited {
			r.watch(b, p.UID)
		}
		p.Containers = append(p.Containers, c)
	}
	sort.Slice(p.Containers, func(i, j int) bool {
		a, b := p.Containers[i], p.Containers[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Attempt < b.Attempt
	})
	return p, nil
}

// containerFrom derives a container's state from its records and its
// process.
func (r *Runtime) containerFrom(bundle string, crec containerRecord) kruntime.Container {
	c := kruntime.Container{
		Name: crec.Name, Attempt: crec.Attempt, ID: crec.ID, Image: crec.Image, ImageRef: crec.ImageRef,
		PID: crec.PID, CreatedAt: crec.CreatedAt, StartedAt: crec.StartedAt, LogPath: crec.LogPath,
	}
	exit := shim.Exit{}
	switch err := readJSON(filepath.Join(bundle, "exit.json"), &exit); {
	case err == nil:
		c.State, c.ExitCode, c.FinishedAt, c.PID = kruntime.StateExited, exit.ExitCode, exit.FinishedAt, 0
		if c.StartedAt.IsZero() {
			c.StartedAt = exit.FinishedAt
		}
		switch {
		case exit.OOMKilled:
			c.Reason = "OOMKilled"
		case crec.StartFailed || crec.StartedAt.IsZero():
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
		// Gone with no exit record: the shim was killed. Its exit code
		// is lost.
		c.State, c.ExitCode, c.Reason, c.PID = kruntime.StateExited, 137, "Error", 0
		c.FinishedAt = time.Now()
		if c.StartedAt.IsZero() {
			c.StartedAt = c.FinishedAt
		}
	case crec.StartedAt.IsZero() || stillInit(crec.PID):
		c.State = kruntime.StateCreated
	default:
		c.State = kruntime.StateRunning
	}
	return c
}

// stillInit reports whether the process is runc's init still waiting
// for `runc start` (a kubelet died between recording the start and
// making it).
func stillInit(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/comm")
	return err == nil && strings.HasPrefix(string(b), "runc:[2:INIT]")
}

// alive reports whether the recorded process still runs (and is not a
// later process that reuses its PID).
func (r *Runtime) alive(crec containerRecord) bool {
	if crec.PID <= 0 {
		return false
	}
	start, err := processStart(crec.PID)
	if err != nil {
		return false
	}
	if crec.PIDStart != 0 && start != crec.PIDStart {
		return false
	}
	state, _ := processState(crec.PID)
	return state != "Z" && state != "X"
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

func itoa(i int) string { return strconv.Itoa(i) }

// processStart reads a process's start time (field 22 of /proc/PID/stat).
func processStart(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, errors.New("short /proc stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func processState(pid int) (string, error) {
	f, err := procStat(pid)
	if err != nil || len(f) < 1 {
		return "", err
	}
	return f[0], nil
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("bad /proc stat")
	}
	return strings.Fields(string(b[i+1:])), nil
}

func isMountPoint(path string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(path, &a) != nil || unix.Lstat(filepath.Dir(path), &b) != nil {
		return false
	}
	if a.Dev != b.Dev {
		return true
	}
	// Bind mounts of the same file system: ask mountinfo.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMount(f[4]) == path {
			return true
		}
	}
	return false
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// unmount unmounts path if it is a mount point (all stacked mounts).
func unmount(path string) error {
	for i := 0; i < 8 && isMountPoint(path); i++ {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return nil
}
