package runc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// baseSpec is the part of buildSpec's output applySecurity reads or
// changes.
func baseSpec() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/var/run/netns/x"}},
			Resources:  &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestApplySecurity(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A Localhost profile in Docker's format: everything allowed but
	// mkdir, which fails with EPERM.
	if err := os.WriteFile(filepath.Join(root, "profiles", "no-mkdir.json"), []byte(`{
		"defaultAction": "SCMP_ACT_ALLOW",
		"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
	}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "broken.json"), []byte(`{"defaultAction": `), 0o644); err != nil {
		t.Fatal(err)
	}
	runtimeDefault := &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}
	unconfined := &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}
	localhost := func(name string) *v1.SeccompProfile {
		return &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: &name}
	}
	// syscallAction finds how a profile treats a system call.
	syscallAction := func(s *specs.LinuxSeccomp, name string) specs.LinuxSeccompAction {
		for _, sc := range s.Syscalls {
			if slices.Contains(sc.Names, name) && len(sc.Args) == 0 {
				return sc.Action
			}
		}
		return s.DefaultAction
	}

	for _, tc := range []struct {
		name    string
		pod     v1.PodSpec
		sc      *v1.SecurityContext
		wantErr string
		check   func(t *testing.T, s *specs.Spec)
	}{{
		name: "no security context: default capabilities, masked /proc, no seccomp, privileges may grow",
		check: func(t *testing.T, s *specs.Spec) {
			if !slices.Equal(s.Process.Capabilities.Bounding, sortedDefaults()) {
				t.Errorf("capabilities %q, want the defaults", s.Process.Capabilities.Bounding)
			}
			if s.Linux.Seccomp != nil || s.Process.NoNewPrivileges {
				t.Errorf("seccomp %v, no_new_privs %v: want unconfined, unset", s.Linux.Seccomp != nil, s.Process.NoNewPrivileges)
			}
			if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
				t.Errorf("masked %q, read-only %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			if s.Linux.Sysctl != nil {
				t.Errorf("sysctls %v", s.Linux.Sysctl)
			}
		},
	}, {
		name: "RuntimeDefault on the container: errno for what containers may not do",
		sc:   &v1.SecurityContext{SeccompProfile: runtimeDefault},
		check: func(t *testing.T, s *specs.Spec) {
			p := s.Linux.Seccomp
			if p == nil || p.DefaultAction != specs.ActErrno {
				t.Fatalf("profile %+v, want the default profile (errno by default)", p)
			}
			if a := syscallAction(p, "read"); a != specs.ActAllow {
				t.Errorf("read: %s", a)
			}
			// Without CAP_SYS_ADMIN, no unshare, mount or setns.
			for _, call := range []string{"unshare", "mount", "setns", "kexec_load"} {
				if a := syscallAction(p, call); a == specs.ActAllow {
					t.Errorf("%s allowed", call)
				}
			}
		},
	}, {
		name: "RuntimeDefault with CAP_SYS_ADMIN allows mount, as Docker's",
		sc:   &v1.SecurityContext{SeccompProfile: runtimeDefault, Capabilities: &v1.Capabilities{Add: []v1.Capability{"SYS_ADMIN"}}},
		check: func(t *testing.T, s *specs.Spec) {
			if a := syscallAction(s.Linux.Seccomp, "mount"); a != specs.ActAllow {
				t.Errorf("mount: %s", a)
			}
		},
	}, {
		name: "the pod's profile is inherited",
		pod:  v1.PodSpec{SecurityContext: &v1.PodSecurityContext{SeccompProfile: runtimeDefault}},
		check: func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp == nil {
				t.Error("no seccomp profile")
			}
		},
	}, {
		name: "the container's profile wins over the pod's",
		pod:  v1.PodSpec{SecurityContext: &v1.PodSecurityContext{SeccompProfile: runtimeDefault}},
		sc:   &v1.SecurityContext{SeccompProfile: unconfined},
		check: func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp != nil {
				t.Error("confined")
			}
		},
	}, {
		name: "Localhost loads the file under the seccomp root",
		sc:   &v1.SecurityContext{SeccompProfile: localhost("profiles/no-mkdir.json")},
		check: func(t *testing.T, s *specs.Spec) {
			p := s.Linux.Seccomp
			if p == nil || p.DefaultAction != specs.ActAllow || syscallAction(p, "mkdirat") != specs.ActErrno {
				t.Errorf("profile %+v", p)
			}
		},
	}, {
		name:    "Localhost profile missing: the error names the file",
		sc:      &v1.SecurityContext{SeccompProfile: localhost("profiles/none.json")},
		wantErr: `cannot load seccomp profile "` + filepath.Join(root, "profiles/none.json") + `"`,
	}, {
		name:    "Localhost profile malformed",
		sc:      &v1.SecurityContext{SeccompProfile: localhost("broken.json")},
		wantErr: "broken.json",
	}, {
		name:    "Localhost profile outside the root",
		sc:      &v1.SecurityContext{SeccompProfile: localhost("../../etc/passwd")},
		wantErr: "outside",
	}, {
		name:    "Localhost without a name",
		sc:      &v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost}},
		wantErr: "localhostProfile must be set",
	}, {
		name: "privileged: every capability, devices, writable /sys, no masks, unconfined",
		sc:   &v1.SecurityContext{Privileged: ptrTo(true), SeccompProfile: runtimeDefault},
		check: func(t *testing.T, s *specs.Spec) {
			if !slices.Contains(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN") && capabilityBound()&(1<<21) != 0 {
				t.Errorf("capabilities %q", s.Process.Capabilities.Effective)
			}
			if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
				t.Errorf("seccomp %v, masked %q, read-only %q", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
			for _, m := range s.Mounts {
				if strings.HasPrefix(m.Destination, "/sys") && slices.Contains(m.Options, "ro") {
					t.Errorf("%s mounted read-only", m.Destination)
				}
			}
			if d := s.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" {
				t.Errorf("device cgroup %+v, want all allowed", d)
			}
			if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool {
				return d.Path == "/dev/null" && d.Type == "c" && d.Major == 1 && d.Minor == 3
			}) {
				t.Errorf("no /dev/null among %d devices", len(s.Linux.Devices))
			}
			if slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return strings.HasPrefix(d.Path, "/dev/pts/") }) {
				t.Error("the node's terminals among the devices")
			}
		},
	}, {
		name: "allowPrivilegeEscalation false sets no_new_privs",
		sc:   &v1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false)},
		check: func(t *testing.T, s *specs.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Error("no_new_privs unset")
			}
		},
	}, {
		name: "allowPrivilegeEscalation true leaves it unset",
		sc:   &v1.SecurityContext{AllowPrivilegeEscalation: ptrTo(true)},
		check: func(t *testing.T, s *specs.Spec) {
			if s.Process.NoNewPrivileges {
				t.Error("no_new_privs set")
			}
		},
	}, {
		name: "never no_new_privs for CAP_SYS_ADMIN",
		sc:   &v1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false), Capabilities: &v1.Capabilities{Add: []v1.Capability{"CAP_SYS_ADMIN"}}},
		check: func(t *testing.T, s *specs.Spec) {
			if s.Process.NoNewPrivileges {
				t.Error("no_new_privs set")
			}
		},
	}, {
		name: "never no_new_privs for privileged",
		sc:   &v1.SecurityContext{AllowPrivilegeEscalation: ptrTo(false), Privileged: ptrTo(true)},
		check: func(t *testing.T, s *specs.Spec) {
			if s.Process.NoNewPrivileges {
				t.Error("no_new_privs set")
			}
		},
	}, {
		name: "procMount Unmasked in a user namespace: nothing masked",
		pod:  v1.PodSpec{HostUsers: ptrTo(false)},
		sc:   &v1.SecurityContext{ProcMount: ptrTo(v1.UnmaskedProcMount)},
		check: func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
				t.Errorf("masked %q, read-only %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
		},
	}, {
		name:    "procMount Unmasked in the host's user namespace is refused",
		sc:      &v1.SecurityContext{ProcMount: ptrTo(v1.UnmaskedProcMount)},
		wantErr: "`hostUsers` must be false to use `Unmasked`",
	}, {
		name: "procMount Default masks",
		sc:   &v1.SecurityContext{ProcMount: ptrTo(v1.DefaultProcMount)},
		check: func(t *testing.T, s *specs.Spec) {
			if !slices.Equal(s.Linux.MaskedPaths, defaultMaskedPaths) {
				t.Errorf("masked %q", s.Linux.MaskedPaths)
			}
		},
	}, {
		name: "the pod's sysctls",
		pod: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
			{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net/ipv4/ip_local_port_range", Value: "1024 65000"},
		}}},
		check: func(t *testing.T, s *specs.Spec) {
			want := map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_local_port_range": "1024 65000"}
			if len(s.Linux.Sysctl) != 2 || s.Linux.Sysctl["kernel.shm_rmid_forced"] != "1" || s.Linux.Sysctl["net.ipv4.ip_local_port_range"] != want["net.ipv4.ip_local_port_range"] {
				t.Errorf("sysctls %v, want %v", s.Linux.Sysctl, want)
			}
		},
	}, {
		name: "no net.* sysctls in the node's network namespace",
		pod: v1.PodSpec{HostNetwork: true, SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
			{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net.ipv4.tcp_syncookies", Value: "0"},
		}}},
		check: func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.Sysctl) != 1 || s.Linux.Sysctl["kernel.shm_rmid_forced"] != "1" {
				t.Errorf("sysctls %v", s.Linux.Sysctl)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: tc.pod}
			c := &v1.Container{Name: "c", SecurityContext: tc.sc}
			s := baseSpec()
			err := applySecurity(s, pod, c, root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

// sortedDefaults is the default set in capability-number order.
func sortedDefaults() []string {
	var out []string
	for _, c := range allCapabilities() {
		if slices.Contains(defaultCapabilities, c) {
			out = append(out, c)
		}
	}
	return out
}

// The capability rules are containerd's: "ALL" first, then single adds,
// then single drops, which win.
func TestContainerCapabilities(t *testing.T) {
	bounded := boundedCapabilities()
	without := func(set []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(set), func(c string) bool { return slices.Contains(drop, c) })
	}
	for _, tc := range []struct {
		name string
		caps *v1.Capabilities
		want []string
	}{
		{name: "none: the defaults", want: sortedDefaults()},
		{name: "add one, with or without CAP_, any case", caps: &v1.Capabilities{Add: []v1.Capability{"net_admin", "CAP_SYS_TIME"}},
			want: sortedFromNumbers(append(sortedDefaults(), "CAP_NET_ADMIN", "CAP_SYS_TIME"))},
		{name: "drop one", caps: &v1.Capabilities{Drop: []v1.Capability{"CHOWN"}}, want: without(sortedDefaults(), "CAP_CHOWN")},
		{name: "drop ALL", caps: &v1.Capabilities{Drop: []v1.Capability{"ALL"}}, want: []string{}},
		{name: "drop ALL, add one", caps: &v1.Capabilities{Drop: []v1.Capability{"ALL"}, Add: []v1.Capability{"NET_BIND_SERVICE"}}, want: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "add ALL", caps: &v1.Capabilities{Add: []v1.Capability{"ALL"}}, want: bounded},
		{name: "add ALL, drop one: all but it", caps: &v1.Capabilities{Add: []v1.Capability{"ALL"}, Drop: []v1.Capability{"CHOWN"}}, want: without(bounded, "CAP_CHOWN")},
		{name: "add and drop the same: dropped", caps: &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}, Drop: []v1.Capability{"NET_ADMIN"}}, want: sortedDefaults()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := containerCapabilities(&v1.Container{SecurityContext: &v1.SecurityContext{Capabilities: tc.caps}})
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func sortedFromNumbers(set []string) []string {
	var out []string
	for _, c := range allCapabilities() {
		if slices.Contains(set, c) {
			out = append(out, c)
		}
	}
	return out
}
