package sysctl

import (
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
)

// TestNewAllowlist is Kubernetes' TestNewAllowlist: patterns that are
// not sysctl names, or name sysctls not known to be namespaced, are
// refused.
func TestNewAllowlist(t *testing.T) {
	safe := SafeSysctls(version.MustParseGeneric("6.1.0"))
	for _, tc := range []struct {
		unsafe []string
		err    bool
	}{
		{unsafe: []string{"kernel.msg*", "kernel.sem"}},
		{unsafe: []string{"kernel/msg*", "kernel/sem"}},
		{unsafe: []string{" kernel.msg*"}, err: true},
		{unsafe: []string{"kernel.msg* "}, err: true},
		{unsafe: []string{"net.-"}, err: true},
		{unsafe: []string{"net.*.foo"}, err: true},
		{unsafe: []string{"net.*/foo"}, err: true},
		{unsafe: []string{"foo"}, err: true},
		{unsafe: []string{"foo*"}, err: true},
	} {
		_, err := NewAllowlist(safe, tc.unsafe)
		if tc.err != (err != nil) {
			t.Errorf("NewAllowlist(%q): error %v, want error %v", tc.unsafe, err, tc.err)
		}
	}
}

// TestAdmit is Kubernetes' TestAllowlist, through Admit, plus the
// reason and message a rejected pod gets.
func TestAdmit(t *testing.T) {
	w, err := NewAllowlist(SafeSysctls(version.MustParseGeneric("6.1.0")), []string{"kernel.msg*", "kernel.sem", "net.b.*", "user.*"})
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		sysctl                      string
		hostNet, hostIPC, hostUsers bool
	}
	pod := func(c tc) *v1.Pod {
		return &v1.Pod{Spec: v1.PodSpec{
			HostNetwork: c.hostNet, HostIPC: c.hostIPC, HostUsers: &c.hostUsers,
			SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{{Name: c.sysctl, Value: "1"}}},
		}}
	}
	for _, c := range []tc{
		{sysctl: "kernel.shm_rmid_forced"},
		{sysctl: "kernel/shm_rmid_forced"},
		{sysctl: "net.ipv4.ip_local_port_range"},
		{sysctl: "net.ipv4.tcp_rmem"},
		{sysctl: "kernel.msgmax"},
		{sysctl: "kernel.sem"},
		{sysctl: "kernel/sem"},
		{sysctl: "user.max_user_namespaces", hostUsers: false},
	} {
		if ok, reason, msg := w.Admit(pod(c)); !ok {
			t.Errorf("%+v: rejected (%s: %s), want admitted", c, reason, msg)
		}
	}
	for _, c := range []tc{
		{sysctl: "kernel.shm_rmid_forced", hostIPC: true},
		{sysctl: "net.ipv4.ip_local_port_range", hostNet: true},
		{sysctl: "user.max_user_namespaces", hostUsers: true},
		{sysctl: "foo"},
		{sysctl: "net.a.b.c"},
		{sysctl: "net.ipv4.ip_local_port_range.a.b.c"},
		{sysctl: "kernel.msgmax", hostIPC: true},
		{sysctl: "kernel.sem", hostIPC: true},
		{sysctl: "net.b.c", hostNet: true},
	} {
		if ok, reason, _ := w.Admit(pod(c)); ok || reason != ForbiddenReason {
			t.Errorf("%+v: admitted %v with reason %q, want rejected with %s", c, ok, reason, ForbiddenReason)
		}
	}

	if ok, _, _ := w.Admit(&v1.Pod{Spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{}}}); !ok {
		t.Error("a pod with no sysctls was rejected")
	}
	if ok, _, _ := w.Admit(&v1.Pod{}); !ok {
		t.Error("a pod with no security context was rejected")
	}

	// The messages, as the conformance test's pod shows them.
	_, _, msg := w.Admit(pod(tc{sysctl: "kernel.msgmax", hostIPC: true}))
	if want := `forbidden sysctl: "kernel.msgmax" not allowed with host IPC enabled`; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	_, _, msg = w.Admit(pod(tc{sysctl: "kernel.hostname"}))
	if want := `forbidden sysctl: "kernel.hostname" not allowlisted`; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}

// The safe set depends on the kernel: sysctls namespaced later than the
// running kernel are left out (they would change the node's value).
func TestSafeSysctls(t *testing.T) {
	all := SafeSysctls(version.MustParseGeneric("6.1.0"))
	if len(all) != len(safeSysctls) {
		t.Errorf("on 6.1: %d safe sysctls, want all %d", len(all), len(safeSysctls))
	}
	old := SafeSysctls(version.MustParseGeneric("4.4.0"))
	for _, name := range []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_reserved_ports"} {
		if !slices.Contains(old, name) {
			t.Errorf("on 4.4: %s missing from %q", name, old)
		}
	}
	for _, name := range []string{"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_rmem"} {
		if slices.Contains(old, name) {
			t.Errorf("on 4.4: %s is safe, but only namespaced later", name)
		}
	}
	if unknown := SafeSysctls(nil); len(unknown) != 5 {
		t.Errorf("unknown kernel: %q, want the 5 namespaced in every kernel", unknown)
	}
	v, err := KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Major() < 3 {
		t.Errorf("kernel version %s", v)
	}
}

func TestForContainer(t *testing.T) {
	f := false
	for _, tc := range []struct {
		name string
		spec v1.PodSpec
		want string
	}{
		{name: "no security context", want: ""},
		{name: "slashes become dots", spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
			{Name: "kernel/shm_rmid_forced", Value: "1"}, {Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"},
		}}}, want: "kernel.shm_rmid_forced=1,net.ipv4.ip_local_port_range=1024 65535"},
		{name: "hostNetwork keeps net.* and UTS off", spec: v1.PodSpec{HostNetwork: true, SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
			{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net.ipv4.tcp_syncookies", Value: "0"}, {Name: "kernel.domainname", Value: "x"},
		}}}, want: "kernel.shm_rmid_forced=1"},
		{name: "hostIPC keeps IPC off", spec: v1.PodSpec{HostIPC: true, SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
			{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "fs.mqueue.msg_max", Value: "20"}, {Name: "net.ipv4.tcp_syncookies", Value: "0"},
		}}}, want: "net.ipv4.tcp_syncookies=0"},
		{name: "not namespaced never", spec: v1.PodSpec{SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
			{Name: "vm.swappiness", Value: "1"}, {Name: "kernel.hostname", Value: "x"},
		}}}, want: ""},
		{name: "user.* only in a user namespace", spec: v1.PodSpec{HostUsers: &f, SecurityContext: &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
			{Name: "user.max_user_namespaces", Value: "0"},
		}}}, want: "user.max_user_namespaces=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ForContainer(&v1.Pod{Spec: tc.spec})
			var kv []string
			for k, v := range got {
				kv = append(kv, k+"="+v)
			}
			slices.Sort(kv)
			if s := strings.Join(kv, ","); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}
