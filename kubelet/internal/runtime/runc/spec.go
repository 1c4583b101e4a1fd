package runc

import (
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/network/cni"
	kruntime "coracle.dev/kubelet/internal/runtime"
)

// defaultCapabilities are the capabilities a container gets, as with
// containerd and Docker.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// specInput is what a container's OCI spec is made from.
type specInput struct {
	cfg        kruntime.ContainerConfig
	container  *v1.Container
	pod        *v1.Pod
	sandbox    *cni.Sandbox
	podDir     string
	cgroupPath string
	// pidNS is the PID namespace file the container joins (the pod's
	// shared one, or an ephemeral container's target's); "" gives it one
	// of its own, unless the pod uses the host's.
	pidNS string
	// seccompRoot is the directory of Localhost seccomp profiles.
	seccompRoot string
}

// buildSpec returns the container's OCI runtime spec: its own mount
// namespace, a PID namespace as the pod says (see namespaces), the pod's
// network, IPC and UTS namespaces, the pod's
// /etc/hosts, /etc/resolv.conf, /etc/hostname and /dev/shm, and its
// resource limits in its own cgroup, and its security context
// (applySecurity: capabilities, no_new_privs, masked paths, seccomp,
// sysctls).
func buildSpec(in specInput) (*specs.Spec, error) {
	cfg := in.cfg
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: cfg.TTY,
			User:     specs.User{UID: cfg.UID, GID: cfg.GID, AdditionalGids: cfg.AdditionalGIDs},
			Args:     cfg.Args,
			Env:      cfg.Env,
			Cwd:      cfg.WorkingDir,
		},
		Root: &specs.Root{Path: "rootfs", Readonly: cfg.ReadOnlyRootfs},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/dev/shm", Type: "bind", Source: in.podDir + "/shm", Options: []string{"rbind", "nosuid", "nodev", "noexec"}},
			{Destination: "/etc/hosts", Type: "bind", Source: in.podDir + "/hosts", Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: in.podDir + "/resolv.conf", Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/hostname", Type: "bind", Source: in.podDir + "/hostname", Options: []string{"rbind", "rprivate"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: in.cgroupPath,
			Namespaces:  namespaces(in.sandbox, in.pod, in.pidNS),
			Resources:   resources(cfg),
		},
	}
	for _, m := range cfg.Mounts {
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}
	if err := applySecurity(s, in.pod, in.container, in.seccompRoot); err != nil {
		return nil, err
	}
	return s, nil
}

// namespaces: the container's own PID namespace (or the one it joins:
// pidNS), its own mount namespace, the pod's others. A hostPID or
// hostIPC pod's containers stay in the node's PID or IPC namespace; with
// no network (UTS) namespace file the container is in the node's (a
// hostNetwork pod).
func namespaces(sb *cni.Sandbox, pod *v1.Pod, pidNS string) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	if pod == nil || !pod.Spec.HostPID {
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: pidNS})
	}
	if pod == nil || !pod.Spec.HostIPC {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: sb.IPCNS})
	}
	if sb.NetNS != "" {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNS})
	}
	if sb.UTSNS != "" {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace, Path: sb.UTSNS})
	}
	return ns
}

func resources(cfg kruntime.ContainerConfig) *specs.LinuxResources {
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		CPU:     &specs.LinuxCPU{},
	}
	if cfg.MemoryLimit > 0 {
		limit := cfg.MemoryLimit
		r.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	if cfg.CPUShares > 0 {
		shares := cfg.CPUShares
		r.CPU.Shares = &shares
	}
	if cfg.CPUQuota > 0 {
		quota, period := cfg.CPUQuota, cfg.CPUPeriod
		r.CPU.Quota, r.CPU.Period = &quota, &period
	}
	if cfg.PidsLimit > 0 {
		limit := cfg.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r
}

func capName(c v1.Capability) string {
	n := strings.ToUpper(string(c))
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	return n
}

// allCapabilities lists Linux's capabilities by number (CAP_CHOWN is 0).
func allCapabilities() []string {
	names := []string{
		"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
		"LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
		"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
		"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
		"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
		"PERFMON", "BPF", "CHECKPOINT_RESTORE",
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "CAP_" + n
	}
	return out
}

// boundedCapabilities are the capabilities a privileged container (or
// `add: [ALL]`) gets: all those the kubelet itself may hold, as
// containerd's WithAllCurrentCapabilities gives. A host (or a VM) whose
// bounding set lacks one (CAP_SYS_RESOURCE on some sandboxes) would
// otherwise fail every privileged container: "unable to apply caps:
// operation not permitted".
func boundedCapabilities() []string {
	return withinBound(allCapabilities(), capabilityBound())
}

// withinBound keeps the capabilities (listed by number) whose bit is set
// in bound.
func withinBound(caps []string, bound uint64) []string {
	var out []string
	for i, c := range caps {
		if i < 64 && bound&(1<<uint(i)) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// capabilityBound reads this process's capability bounding set (CapBnd
// in /proc/self/status); all bits when it cannot be read.
func capabilityBound() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ^uint64(0)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil {
				return n
			}
		}
	}
	return ^uint64(0)
}
