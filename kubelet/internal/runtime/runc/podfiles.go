package runc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// podHostname is the pod's host name: spec.hostname or its name (at
// most 63 characters), or the node's on the host network.
func podHostname(pod *v1.Pod) string {
	if pod.Spec.HostNetwork {
		h, _ := os.Hostname()
		return h
	}
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = hostname[:63]
	}
	return hostname
}

// writePodFiles writes the pod's hosts, resolv.conf and hostname into
// dir; ip is the pod's.
func writePodFiles(dir string, pod *v1.Pod, hostname, ip string) error {
	fqdn := hostname
	if pod.Spec.Subdomain != "" {
		fqdn = hostname + "." + pod.Spec.Subdomain + "." + pod.Namespace + ".svc.cluster.local\t" + hostname
	}
	hosts := hostsFile(ip, fqdn, pod.Spec.HostAliases)
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
			return err
		}
	}
	return nil
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

// hostsFile is the pod's /etc/hosts, as the kubelet writes it.
func hostsFile(ip, hostname string, aliases []v1.HostAlias) []byte {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if ip != "" {
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	}
	for _, a := range aliases {
		fmt.Fprintf(&b, "\n# Entries added by HostAliases.\n%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	return []byte(b.String())
}
