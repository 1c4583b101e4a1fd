// Package sysctl decides which of a pod's sysctls (spec.securityContext
// .sysctls) the kubelet lets it set, as Kubernetes' kubelet does: the
// safe set, which is namespaced and cannot hurt other pods or the node,
// plus what the node's --allowed-unsafe-sysctls patterns allow; a sysctl
// of a namespace the pod shares with the host (net.* with hostNetwork,
// kernel.shm* with hostIPC) is never allowed. A pod asking for anything
// else is rejected at admission with the reason SysctlForbidden.
package sysctl

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
	utilsysctl "k8s.io/component-helpers/node/util/sysctl"
)

// ForbiddenReason is the reason of a pod rejected for a sysctl it may not
// set, as Kubernetes'.
const ForbiddenReason = "SysctlForbidden"

// safeSysctls are the sysctls every pod may set, with the kernel version
// from which each is namespaced (before it, setting it in a pod would
// change the node's value); Kubernetes v1.37's list.
var safeSysctls = []struct {
	name   string
	kernel string // the first namespaced kernel; "" for always
}{
	{name: "kernel.shm_rmid_forced"},
	{name: "net.ipv4.ip_local_port_range"},
	{name: "net.ipv4.tcp_syncookies"},
	{name: "net.ipv4.ping_group_range"},
	{name: "net.ipv4.ip_unprivileged_port_start"},
	{name: "net.ipv4.ip_local_reserved_ports", kernel: "3.16"},
	{name: "net.ipv4.tcp_keepalive_time", kernel: "4.5"},
	{name: "net.ipv4.tcp_fin_timeout", kernel: "4.6"},
	{name: "net.ipv4.tcp_keepalive_intvl", kernel: "4.5"},
	{name: "net.ipv4.tcp_keepalive_probes", kernel: "4.5"},
	{name: "net.ipv4.tcp_rmem", kernel: "4.15"},
	{name: "net.ipv4.tcp_wmem", kernel: "4.15"},
	{name: "net.ipv4.tcp_slow_start_after_idle", kernel: "4.15"},
	{name: "net.ipv4.tcp_notsent_lowat", kernel: "4.6"},
}

// SafeSysctls returns the safe sysctls namespaced in the given kernel
// (nil: of unknown version, which gets only those namespaced in every
// kernel Kubernetes supports).
func SafeSysctls(kernel *version.Version) []string {
	var out []string
	for _, s := range safeSysctls {
		if s.kernel == "" || (kernel != nil && kernel.AtLeast(version.MustParseGeneric(s.kernel))) {
			out = append(out, s.name)
		}
	}
	return out
}

// KernelVersion returns the running kernel's version
// (/proc/sys/kernel/osrelease, e.g. "6.1.0-18-amd64").
func KernelVersion() (*version.Version, error) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return nil, fmt.Errorf("kernel version: %w", err)
	}
	v, err := version.ParseGeneric(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("kernel version %q: %w", strings.TrimSpace(string(b)), err)
	}
	return v, nil
}

// maxLength is the longest sysctl name Kubernetes accepts.
const maxLength = 253

// patternRE matches a valid sysctl pattern: dot- or slash-separated
// segments, the last of which may end in "*" (Kubernetes'
// SysctlContainSlashPatternFmt).
var patternRE = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]$`)

// Allowlist is the set of sysctls a node lets its pods set: exact names
// and prefixes ("kernel.msg*"), each with the namespace it belongs to.
type Allowlist struct {
	sysctls  map[string]utilsysctl.Namespace
	prefixes map[string]utilsysctl.Namespace
}

// NewAllowlist returns the allowlist of the safe sysctls plus the given
// unsafe patterns (--allowed-unsafe-sysctls). A pattern that is not a
// sysctl name (with an optional trailing "*"), or that names sysctls not
// known to be namespaced (and so would change the node's own), is an
// error: the kubelet refuses to start with it, as Kubernetes'.
func NewAllowlist(safe, unsafe []string) (*Allowlist, error) {
	w := &Allowlist{sysctls: map[string]utilsysctl.Namespace{}, prefixes: map[string]utilsysctl.Namespace{}}
	for _, s := range append(append([]string(nil), safe...), unsafe...) {
		if len(s) > maxLength || !patternRE.MatchString(s) {
			return nil, fmt.Errorf("sysctl %q must have at most %d characters and match regex %s", s, maxLength, strings.Trim(patternRE.String(), "^$"))
		}
		ns, sysctlOrPrefix, prefixed := utilsysctl.GetNamespace(s)
		if ns == utilsysctl.UnknownNamespace {
			return nil, fmt.Errorf("the sysctls %q are not known to be namespaced", sysctlOrPrefix)
		}
		if prefixed {
			w.prefixes[sysctlOrPrefix] = ns
		} else {
			w.sysctls[sysctlOrPrefix] = ns
		}
	}
	return w, nil
}

// Admit says whether the pod may run on the node for its sysctls; if not,
// the reason (SysctlForbidden) and message for its Failed status.
func (w *Allowlist) Admit(pod *v1.Pod) (ok bool, reason, message string) {
	if pod.Spec.SecurityContext == nil {
		return true, "", ""
	}
	hostUsers := pod.Spec.HostUsers == nil || *pod.Spec.HostUsers
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		if err := w.validate(s.Name, pod.Spec.HostNetwork, pod.Spec.HostIPC, hostUsers); err != nil {
			return false, ForbiddenReason, fmt.Sprintf("forbidden sysctl: %v", err)
		}
	}
	return true, "", ""
}

// validate checks one sysctl: allowed by name or prefix, and of a
// namespace the pod does not share with the host.
func (w *Allowlist) validate(sysctl string, hostNet, hostIPC, hostUsers bool) error {
	sysctl = utilsysctl.NormalizeName(sysctl)
	ns, found := w.sysctls[sysctl]
	if !found {
		for p, pns := range w.prefixes {
			if strings.HasPrefix(sysctl, p) {
				ns, found = pns, true
				break
			}
		}
	}
	if !found {
		return fmt.Errorf("%q not allowlisted", sysctl)
	}
	if (ns == utilsysctl.IPCNamespace && hostIPC) || (ns == utilsysctl.NetNamespace && hostNet) || (ns == utilsysctl.UserNamespace && hostUsers) {
		return fmt.Errorf("%q not allowed with host %s enabled", sysctl, ns)
	}
	return nil
}

// ForContainer returns the sysctls runc is to set in the pod's
// containers, names in dotted form: those of namespaces the pod has of
// its own. Admission has already refused a pod asking for others; this
// keeps a container from ever writing the node's own values (runc would
// set a net.* sysctl of a hostNetwork pod in the node's namespace).
func ForContainer(pod *v1.Pod) map[string]string {
	sc := pod.Spec.SecurityContext
	if sc == nil || len(sc.Sysctls) == 0 {
		return nil
	}
	hostUsers := pod.Spec.HostUsers == nil || *pod.Spec.HostUsers
	out := map[string]string{}
	for _, s := range sc.Sysctls {
		name := utilsysctl.NormalizeName(s.Name)
		ns, _, _ := utilsysctl.GetNamespace(name)
		switch {
		case ns == utilsysctl.UnknownNamespace,
			ns == utilsysctl.NetNamespace && pod.Spec.HostNetwork,
			ns == utilsysctl.UTSNamespace && pod.Spec.HostNetwork, // a hostNetwork pod has the node's UTS namespace too
			ns == utilsysctl.IPCNamespace && pod.Spec.HostIPC,
			ns == utilsysctl.UserNamespace && hostUsers:
			continue
		}
		out[name] = s.Value
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
