package runc

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet/internal/sysctl"
)

// defaultMaskedPaths and defaultReadonlyPaths hide the host's kernel
// details from a container's /proc and /sys, as Kubernetes asks of its
// runtimes (pkg/securitycontext, kept in sync with moby); a privileged
// container, or one with procMount Unmasked, has neither.
var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// applySecurity applies the container's effective security context (its
// own, over the pod's) to its spec the way Kubernetes' kubelet and
// containerd together do: capabilities, privileged mode, no_new_privs,
// the seccomp profile, masked /proc paths and the pod's sysctls.
// seccompRoot is the directory of Localhost profiles (<root-dir>/seccomp).
//
// buildSpec calls it last, once the mounts and namespaces are in place:
// the default seccomp profile allows some system calls only to a
// container whose bounding set has the capability they need.
func applySecurity(s *specs.Spec, pod *v1.Pod, c *v1.Container, seccompRoot string) error {
	sc := c.SecurityContext
	privileged := sc != nil && sc.Privileged != nil && *sc.Privileged

	caps := containerCapabilities(c)
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	s.Process.NoNewPrivileges = noNewPrivileges(c, caps)

	masked, readonly := defaultMaskedPaths, defaultReadonlyPaths
	if sc != nil && sc.ProcMount != nil && *sc.ProcMount == v1.UnmaskedProcMount {
		// An unmasked /proc in the host's user namespace would show the
		// node's own kernel knobs to the container: Kubernetes allows it
		// only in a pod of its own user namespace.
		if pod.Spec.HostUsers == nil || *pod.Spec.HostUsers {
			return fmt.Errorf("procMount: Unmasked: `hostUsers` must be false to use `Unmasked`")
		}
		masked, readonly = nil, nil
	}
	if privileged {
		masked, readonly = nil, nil
		privilege(s)
	}
	s.Linux.MaskedPaths = slices.Clone(masked)
	s.Linux.ReadonlyPaths = slices.Clone(readonly)
	s.Linux.Sysctl = sysctl.ForContainer(pod)

	// A privileged container runs unconfined whatever its profile says,
	// as with containerd and Docker.
	s.Linux.Seccomp = nil
	if privileged {
		return nil
	}
	profile := seccompProfile(pod, c)
	if profile == nil {
		// Neither the container nor the pod names a profile: Unconfined,
		// the kubelet's default without --seccomp-default.
		return nil
	}
	switch profile.Type {
	case v1.SeccompProfileTypeUnconfined:
		return nil
	case v1.SeccompProfileTypeRuntimeDefault:
		p, err := seccomp.GetDefaultProfile(s)
		if err != nil {
			return fmt.Errorf("the default seccomp profile: %w", err)
		}
		s.Linux.Seccomp = p
		return nil
	case v1.SeccompProfileTypeLocalhost:
		p, err := localhostProfile(seccompRoot, profile.LocalhostProfile, s)
		if err != nil {
			return err
		}
		s.Linux.Seccomp = p
		return nil
	}
	return fmt.Errorf("seccomp profile type %q is not supported", profile.Type)
}

// seccompProfile is the container's seccomp profile, else the pod's.
func seccompProfile(pod *v1.Pod, c *v1.Container) *v1.SeccompProfile {
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		return c.SecurityContext.SeccompProfile
	}
	if pod.Spec.SecurityContext != nil {
		return pod.Spec.SecurityContext.SeccompProfile
	}
	return nil
}

// localhostProfile loads a profile from a file under the node's seccomp
// directory, in Docker's format (which also reads the OCI form).
func localhostProfile(root string, name *string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	if name == nil || *name == "" {
		return nil, fmt.Errorf("localhostProfile must be set if seccompProfile type is Localhost.")
	}
	path := filepath.Join(root, *name)
	// The apiserver refuses ".." in the name; a node does not trust that
	// to keep the profile under its directory.
	if rel, err := filepath.Rel(root, path); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("seccomp profile %q is outside %s", *name, root)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load seccomp profile %q: %w", path, err)
	}
	p, err := seccomp.LoadProfile(string(b), s)
	if err != nil {
		return nil, fmt.Errorf("cannot load seccomp profile %q: %w", path, err)
	}
	return p, nil
}

// containerCapabilities is the container's capability set, in
// containerd's order: a privileged container has every capability the
// node may grant; otherwise "ALL" in add starts from those, "ALL" in drop
// from none, then single adds and single drops apply, a drop winning
// over an add of the same capability.
func containerCapabilities(c *v1.Container) []string {
	sc := c.SecurityContext
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		return boundedCapabilities()
	}
	set := map[string]bool{}
	for _, cp := range defaultCapabilities {
		set[cp] = true
	}
	if sc != nil && sc.Capabilities != nil {
		isAll := func(cp v1.Capability) bool { return strings.EqualFold(string(cp), "ALL") }
		if slices.ContainsFunc(sc.Capabilities.Add, isAll) {
			for _, cp := range boundedCapabilities() {
				set[cp] = true
			}
		}
		if slices.ContainsFunc(sc.Capabilities.Drop, isAll) {
			clear(set)
		}
		for _, a := range sc.Capabilities.Add {
			if !isAll(a) {
				set[capName(a)] = true
			}
		}
		for _, d := range sc.Capabilities.Drop {
			if !isAll(d) {
				delete(set, capName(d))
			}
		}
	}
	// In capability-number order, so specs compare and read well; names
	// this kernel's list does not know keep their place at the end.
	out := make([]string, 0, len(set))
	for _, cp := range allCapabilities() {
		if set[cp] {
			out = append(out, cp)
			delete(set, cp)
		}
	}
	rest := make([]string, 0, len(set))
	for cp := range set {
		rest = append(rest, cp)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// noNewPrivileges is Kubernetes' rule: set only when the container says
// allowPrivilegeEscalation: false. The apiserver refuses that together
// with privileged or CAP_SYS_ADMIN; a container that has either anyway
// could gain privileges regardless, so the flag is left off for it, as
// the API's documentation says ("always true when the container is run
// as privileged or has CAP_SYS_ADMIN").
func noNewPrivileges(c *v1.Container, caps []string) bool {
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		return false
	}
	if sc.Privileged != nil && *sc.Privileged {
		return false
	}
	return !slices.Contains(caps, "CAP_SYS_ADMIN")
}

// privilege gives a privileged container what containerd gives one
// besides its capabilities: every device of the node, in /dev and in the
// devices cgroup, and a writable /sys and /sys/fs/cgroup.
func privilege(s *specs.Spec) {
	for i := range s.Mounts {
		if d := filepath.Clean(s.Mounts[i].Destination); d == "/sys" || d == "/sys/fs/cgroup" {
			s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(s.Mounts[i].Options), func(o string) bool { return o == "ro" })
		}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	s.Linux.Devices = hostDevices("/dev")
}

// hostDevices lists the device nodes under dir (the node's /dev) for
// runc to create in a privileged container's /dev, skipping what the
// container has of its own (its pts, shm and mqueue mounts, its console).
func hostDevices(dir string) []specs.LinuxDevice {
	var out []specs.LinuxDevice
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // a node vanishing while we look is no reason to fail
		}
		if d.IsDir() {
			switch d.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "console" {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil {
			return nil
		}
		var typ string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFBLK:
			typ = "b"
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFIFO:
			typ = "p"
		default:
			return nil
		}
		mode := os.FileMode(st.Mode &^ unix.S_IFMT)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{
			Path: path, Type: typ,
			Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))), //nolint:unconvert // Rdev's type differs by architecture
			FileMode: &mode, UID: &uid, GID: &gid,
		})
		return nil
	})
	return out
}
