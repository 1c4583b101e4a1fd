package runc

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"coracle.dev/kubelet/internal/dns"
)

// nodeHostsPath is the node's hosts file, which host-network pods get.
const nodeHostsPath = "/etc/hosts"

// podNames is how a pod names itself and resolves names, decided before
// its sandbox is made (as the kubelet forms a sandbox's configuration
// before asking the runtime for it).
type podNames struct {
	// hostname and domain go into the pod's hosts file:
	// "IP hostname.domain hostname".
	hostname, domain string
	// uts is the host name of the pod's UTS namespace and its
	// /etc/hostname: the FQDN with setHostnameAsFQDN; the node's on the
	// host network.
	uts        string
	resolvConf []byte
}

// podNames forms the pod's names and resolv.conf, and records the
// warnings the forming raised (DNSConfigForming, MissingClusterDNS) as
// the pod's and node's events. An error (the node's resolv.conf cannot
// be read, an FQDN too long for the kernel) fails the sandbox.
func (r *Runtime) podNames(pod *v1.Pod) (podNames, error) {
	var n podNames
	if pod.Spec.HostNetwork {
		// The node's UTS namespace: its host name is the pod's.
		h, err := os.Hostname()
		if err != nil {
			return podNames{}, err
		}
		n.hostname, n.uts = h, h
	} else {
		var err error
		if n.hostname, n.domain, err = dns.HostnameAndDomain(pod, r.dns.ClusterDomain); err != nil {
			return podNames{}, err
		}
		if n.uts, err = dns.KernelHostname(n.hostname, n.domain, pod.Spec.SetHostnameAsFQDN); err != nil {
			return podNames{}, err
		}
	}
	host, err := r.dns.HostConfig()
	if err != nil {
		return podNames{}, err
	}
	conf, events := r.dns.PodDNS(pod, host)
	for _, e := range events {
		r.recordDNSEvent(pod, e)
	}
	n.resolvConf = conf.Bytes()
	return n, nil
}

// recordDNSEvent records a warning of the forming of the pod's DNS, on
// the pod or on its node.
func (r *Runtime) recordDNSEvent(pod *v1.Pod, e dns.Event) {
	if r.opts.Recorder == nil {
		return
	}
	rec := r.opts.Recorder(pod.Spec.NodeName)
	if rec == nil {
		return
	}
	ref := &v1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion,
	}
	if e.OnNode {
		// The kubelet's node reference: the node's name is its UID.
		ref = &v1.ObjectReference{Kind: "Node", Name: pod.Spec.NodeName, UID: types.UID(pod.Spec.NodeName)}
	}
	rec.Event(ref, v1.EventTypeWarning, e.Reason, e.Message)
}

// writePodFiles writes the pod's hosts, resolv.conf and hostname into
// dir, the files bound into its containers; ip is the pod's.
func writePodFiles(dir string, pod *v1.Pod, names podNames, ip string) error {
	var hosts []byte
	if pod.Spec.HostNetwork {
		node, err := os.ReadFile(nodeHostsPath)
		if err != nil {
			return err
		}
		hosts = dns.NodeHostsFile(node, pod.Spec.HostAliases)
	} else {
		var ips []string
		if ip != "" {
			ips = []string{ip}
		}
		hosts = dns.HostsFile(ips, names.hostname, names.domain, pod.Spec.HostAliases)
	}
	files := map[string][]byte{
		"hosts":       hosts,
		"resolv.conf": names.resolvConf,
		"hostname":    []byte(names.uts + "\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("pod %s: %w", name, err)
		}
	}
	return nil
}
