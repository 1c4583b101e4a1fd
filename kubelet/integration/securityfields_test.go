package integration

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// runToEnd creates the pod (restartPolicy Never) and waits until its
// containers ran to completion; it returns the named container's log.
func (n *node) runToEnd(p *v1.Pod, container string) string {
	n.t.Helper()
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(p)
	got := n.waitPod(p.Name, 60*time.Second, "Succeeded", func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
	})
	if got.Status.Phase != v1.PodSucceeded {
		n.t.Fatalf("%s: %s", p.Name, statusSummary(got))
	}
	return n.waitLog(p.Name, container, "done")
}

// The seccomp profile is the container's, else the pod's: RuntimeDefault
// filters system calls (a container without CAP_SYS_ADMIN cannot
// unshare a namespace), Unconfined filters none.
func TestSeccompProfiles(t *testing.T) {
	n := startNode(t)
	// /proc/self/status says "Seccomp: 2" under a filter, 0 without.
	script := "grep '^Seccomp:' /proc/self/status; unshare -U true 2>/dev/null && echo unshare=ok || echo unshare=denied; echo done"

	confined := n.pod("seccomp-default", sh("c", script))
	confined.Spec.SecurityContext = &v1.PodSecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}
	out := n.runToEnd(confined, "c")
	if !strings.Contains(out, "Seccomp:\t2") || !strings.Contains(out, "unshare=denied") {
		t.Errorf("RuntimeDefault from the pod: %q, want a filter that denies unshare", out)
	}

	// The container's Unconfined wins over the pod's RuntimeDefault.
	c := sh("c", script)
	c.SecurityContext = &v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}}
	free := n.pod("seccomp-unconfined", c)
	free.Spec.SecurityContext = &v1.PodSecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}
	out = n.runToEnd(free, "c")
	if !strings.Contains(out, "Seccomp:\t0") || !strings.Contains(out, "unshare=ok") {
		t.Errorf("Unconfined: %q, want no filter and unshare allowed", out)
	}
}

// The pod's safe sysctls are set in its namespaces; one the node does
// not allow keeps the pod off it with SysctlForbidden, as Kubernetes'.
func TestSysctls(t *testing.T) {
	n := startNode(t)
	p := n.pod("sysctls", sh("c", "sysctl kernel.shm_rmid_forced net.ipv4.ip_local_port_range; echo done"))
	p.Spec.SecurityContext = &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
		{Name: "kernel.shm_rmid_forced", Value: "1"},
		{Name: "net.ipv4.ip_local_port_range", Value: "20000 30000"},
	}}
	out := n.runToEnd(p, "c")
	if !strings.Contains(out, "kernel.shm_rmid_forced = 1") || !strings.Contains(out, "net.ipv4.ip_local_port_range = 20000\t30000") {
		t.Errorf("log %q: want the pod's sysctls", out)
	}

	unsafe := n.pod("unsafe-sysctl", sh("c", "echo done"))
	unsafe.Spec.SecurityContext = &v1.PodSecurityContext{Sysctls: []v1.Sysctl{{Name: "kernel.msgmax", Value: "10000000"}}}
	unsafe.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(unsafe)
	got := n.waitPod("unsafe-sysctl", 60*time.Second, "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	if got.Status.Reason != "SysctlForbidden" || !strings.Contains(got.Status.Message, `forbidden sysctl: "kernel.msgmax" not allowlisted`) {
		t.Errorf("status reason %q message %q: want SysctlForbidden", got.Status.Reason, got.Status.Message)
	}
}

// allowPrivilegeEscalation: false sets no_new_privs; by default it is
// not set.
func TestAllowPrivilegeEscalation(t *testing.T) {
	n := startNode(t)
	script := "grep '^NoNewPrivs:' /proc/self/status; echo done"
	off := sh("c", script)
	off.SecurityContext = &v1.SecurityContext{AllowPrivilegeEscalation: ptrBool(false)}
	if out := n.runToEnd(n.pod("no-escalation", off), "c"); !strings.Contains(out, "NoNewPrivs:\t1") {
		t.Errorf("allowPrivilegeEscalation false: %q, want NoNewPrivs 1", out)
	}
	if out := n.runToEnd(n.pod("escalation", sh("c", script)), "c"); !strings.Contains(out, "NoNewPrivs:\t0") {
		t.Errorf("by default: %q, want NoNewPrivs 0", out)
	}
}

// A privileged container sees the node's devices and may write /sys; an
// ordinary one has /proc's sensitive files masked.
func TestPrivilegedMountsAndMasks(t *testing.T) {
	n := startNode(t)
	script := "grep ' /sys sysfs ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1; " +
		"test -c /dev/kmsg && echo kmsg=yes || echo kmsg=no; " +
		"grep -q ' /proc/interrupts ' /proc/self/mounts && echo interrupts=masked || echo interrupts=visible; echo done"
	priv := sh("c", script)
	priv.SecurityContext = &v1.SecurityContext{Privileged: ptrBool(true)}
	if out := n.runToEnd(n.pod("privileged-mounts", priv), "c"); !strings.HasPrefix(out, "rw\n") || !strings.Contains(out, "kmsg=yes") || !strings.Contains(out, "interrupts=visible") {
		t.Errorf("privileged: %q, want /sys rw, the node's devices, nothing masked", out)
	}
	if out := n.runToEnd(n.pod("plain-mounts", sh("c", script)), "c"); !strings.HasPrefix(out, "ro\n") || !strings.Contains(out, "kmsg=no") || !strings.Contains(out, "interrupts=masked") {
		t.Errorf("plain: %q, want /sys ro, no node devices, /proc/interrupts masked", out)
	}
}
