package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"coracle.dev/kubelet"
)

// dnsFilesScript prints what a container sees of its names: its
// resolv.conf, its hosts file, its UTS host name and /etc/hostname,
// between markers.
const dnsFilesScript = `echo '== resolv.conf'; cat /etc/resolv.conf; echo '== hosts'; cat /etc/hosts; echo '== hostname'; hostname; cat /etc/hostname; echo '== end'; exec sleep 3600`

// section returns what the script printed between "== name" and the
// next marker.
func section(log, name string) string {
	_, after, ok := strings.Cut(log, "== "+name+"\n")
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(after, "== ")
	return body
}

// Real containers see the resolv.conf, hosts file and host name the
// kubelet forms from --cluster-dns, --cluster-domain and --resolv-conf
// and the pod's dnsPolicy, dnsConfig, hostname, subdomain,
// setHostnameAsFQDN and hostAliases, as Kubernetes' kubelet forms them.
func TestPodDNSFiles(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("# the node's\nnameserver 10.255.255.53\nsearch corp.example\noptions timeout:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, func(o *kubelet.Options) {
		o.ClusterDNS, o.ClusterDomain, o.ResolvConf = []string{"10.96.0.10"}, "cluster.local", resolv
	})
	ndots, fqdn := "2", true

	// A StatefulSet-like pod: hostname and subdomain under the cluster
	// domain, its FQDN as its host name, its own dnsConfig and aliases.
	web := n.pod("web-0", sh("c", dnsFilesScript))
	web.Spec.Hostname, web.Spec.Subdomain, web.Spec.SetHostnameAsFQDN = "web-0", "nginx", &fqdn
	web.Spec.DNSConfig = &v1.PodDNSConfig{
		Searches: []string{"extra.example"},
		Options:  []v1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}, {Name: "edns0"}},
	}
	web.Spec.HostAliases = []v1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}}
	n.create(web)

	// Three nameservers of its own besides the cluster's: one too many.
	limits := n.pod("limits", sh("c", dnsFilesScript))
	limits.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}}
	n.create(limits)

	// ClusterFirst on the host network falls back to the node's.
	onHost := n.pod("on-host", sh("c", dnsFilesScript))
	onHost.Spec.HostNetwork = true
	n.create(onHost)

	const localHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
	nodeHosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	nodeName, _ := os.Hostname()
	tests := []struct {
		pod          string
		wantResolv   string
		wantHosts    func(podIP string) string
		wantHostname string
	}{
		{"web-0",
			"search default.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\nnameserver 10.96.0.10\noptions ndots:2 edns0\n",
			func(ip string) string {
				return "# Kubernetes-managed hosts file.\n" + localHosts + ip + "\tweb-0.nginx.default.svc.cluster.local\tweb-0\n" +
					"\n# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.local\n"
			},
			"web-0.nginx.default.svc.cluster.local"},
		{"limits",
			"search default.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 2.2.2.2\noptions ndots:5\n",
			func(ip string) string { return "# Kubernetes-managed hosts file.\n" + localHosts + ip + "\tlimits\n" },
			"limits"},
		{"on-host",
			"search corp.example\nnameserver 10.255.255.53\noptions timeout:2\n",
			func(string) string { return "# Kubernetes-managed hosts file (host network).\n" + string(nodeHosts) },
			nodeName},
	}
	for _, tc := range tests {
		t.Run(tc.pod, func(t *testing.T) {
			p := n.waitRunning(tc.pod)
			log := n.waitLog(tc.pod, "c", "== end")
			if got := section(log, "resolv.conf"); got != tc.wantResolv {
				t.Errorf("resolv.conf\n%s\nwant\n%s", got, tc.wantResolv)
			}
			if got, want := section(log, "hosts"), tc.wantHosts(p.Status.PodIP); got != want {
				t.Errorf("hosts\n%s\nwant\n%s", got, want)
			}
			if got, want := section(log, "hostname"), tc.wantHostname+"\n"+tc.wantHostname+"\n"; got != want {
				t.Errorf("hostname and /etc/hostname %q, want %q", got, want)
			}
		})
	}

	// The trimmed nameserver line is a warning on the pod, with
	// Kubernetes' message.
	const want = "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.96.0.10 1.1.1.1 2.2.2.2"
	eventually(t, 10*time.Second, "the DNSConfigForming event", func() (bool, error) {
		for _, e := range n.events("limits") {
			if e.Reason == "DNSConfigForming" {
				if e.Type != v1.EventTypeWarning || e.Message != want {
					return false, fmt.Errorf("event %s %q", e.Type, e.Message)
				}
				return true, nil
			}
		}
		return false, nil
	})
	if evs := n.events("web-0"); hasEvent(evs, "DNSConfigForming") || hasEvent(evs, "MissingClusterDNS") {
		t.Errorf("web-0 has DNS warnings: %+v", evs)
	}
}
