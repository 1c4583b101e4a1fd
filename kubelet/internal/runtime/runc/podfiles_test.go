package runc

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	"coracle.dev/kubelet/internal/dns"
)

// The pod's names and resolv.conf come from the DNS configurer; its
// warnings become events.
func TestPodNames(t *testing.T) {
	host, _ := os.Hostname()
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.255.255.53\nsearch corp.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	withDNS := &dns.Configurer{ClusterDNS: []net.IP{net.ParseIP("10.96.0.10")}, ClusterDomain: "cluster.local", ResolverConfig: resolv}
	fqdn := true
	tests := []struct {
		name       string
		dns        *dns.Configurer
		spec       v1.PodSpec
		want       podNames
		wantEvents []string
		wantErr    string
	}{
		{"a pod of the cluster DNS", withDNS, v1.PodSpec{},
			podNames{hostname: "web-0", uts: "web-0",
				resolvConf: []byte("search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n")}, nil, ""},
		{"hostname, subdomain and setHostnameAsFQDN", withDNS, v1.PodSpec{Hostname: "db", Subdomain: "nginx", SetHostnameAsFQDN: &fqdn},
			podNames{hostname: "db", domain: "nginx.shop.svc.cluster.local", uts: "db.nginx.shop.svc.cluster.local",
				resolvConf: []byte("search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n")}, nil, ""},
		{"the host network: the node's name and resolver", withDNS, v1.PodSpec{HostNetwork: true, Hostname: "db"},
			podNames{hostname: host, uts: host, resolvConf: []byte("search corp.example\nnameserver 10.255.255.53\n")}, nil, ""},
		{"no cluster DNS: the node's resolver, with warnings", &dns.Configurer{ClusterDomain: "cluster.local", ResolverConfig: resolv}, v1.PodSpec{},
			podNames{hostname: "web-0", uts: "web-0", resolvConf: []byte("search corp.example\nnameserver 10.255.255.53\n")},
			[]string{"Warning MissingClusterDNS kubelet does not have ClusterDNS", `Warning MissingClusterDNS pod: "web-0_shop(uid-1)". kubelet does not have ClusterDNS`}, ""},
		{"the node's resolv.conf is missing", &dns.Configurer{ResolverConfig: resolv + ".missing"}, v1.PodSpec{}, podNames{}, nil, "no such file or directory"},
		{"an FQDN too long", withDNS, v1.PodSpec{Hostname: strings.Repeat("h", 40), Subdomain: "nginx", SetHostnameAsFQDN: &fqdn}, podNames{}, nil, "is too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			r := &Runtime{dns: tc.dns, opts: Options{Recorder: func(string) record.EventRecorder { return rec }}}
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop", UID: "uid-1"}, Spec: tc.spec}
			got, err := r.podNames(pod)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if got.hostname != tc.want.hostname || got.domain != tc.want.domain || got.uts != tc.want.uts || string(got.resolvConf) != string(tc.want.resolvConf) {
				t.Errorf("got %q %q %q %q\nwant %q %q %q %q", got.hostname, got.domain, got.uts, got.resolvConf,
					tc.want.hostname, tc.want.domain, tc.want.uts, tc.want.resolvConf)
			}
			close(rec.Events)
			var events []string
			for e := range rec.Events {
				events = append(events, e)
			}
			if len(events) != len(tc.wantEvents) {
				t.Fatalf("events %q, want %q", events, tc.wantEvents)
			}
			for i, want := range tc.wantEvents {
				if !strings.HasPrefix(events[i], want) {
					t.Errorf("event %q, want %q…", events[i], want)
				}
			}
		})
	}
}

func TestWritePodFiles(t *testing.T) {
	nodeHosts, err := os.ReadFile(nodeHostsPath)
	if err != nil {
		t.Fatal(err)
	}
	aliases := []v1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}}
	tests := []struct {
		name      string
		spec      v1.PodSpec
		names     podNames
		wantHosts string
	}{
		{"the pod network: the managed hosts file",
			v1.PodSpec{HostAliases: aliases},
			podNames{hostname: "web-0", domain: "web.shop.svc.cluster.local", uts: "web-0.web.shop.svc.cluster.local", resolvConf: []byte("nameserver 10.96.0.10\n")},
			"# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
				"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
				"10.244.1.7\tweb-0.web.shop.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.local\n"},
		{"the host network: the node's hosts file",
			v1.PodSpec{HostNetwork: true, HostAliases: aliases},
			podNames{hostname: "vm", uts: "vm", resolvConf: []byte("nameserver 10.255.255.53\n")},
			"# Kubernetes-managed hosts file (host network).\n" + string(nodeHosts) + "\n# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.local\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}, Spec: tc.spec}
			if err := writePodFiles(dir, pod, tc.names, "10.244.1.7"); err != nil {
				t.Fatal(err)
			}
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			if got, want := read("hostname"), tc.names.uts+"\n"; got != want {
				t.Errorf("hostname %q, want %q", got, want)
			}
			if got, want := read("resolv.conf"), string(tc.names.resolvConf); got != want {
				t.Errorf("resolv.conf %q, want %q", got, want)
			}
			if got := read("hosts"); got != tc.wantHosts {
				t.Errorf("hosts\n%s\nwant\n%s", got, tc.wantHosts)
			}
		})
	}
}

func TestPortMappings(t *testing.T) {
	pod := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
		{Ports: []v1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 53, HostPort: 5353, Protocol: v1.ProtocolUDP}, {ContainerPort: 9090}}},
	}}}
	got := portMappings(pod)
	if len(got) != 2 || got[0].Protocol != "tcp" || got[0].HostPort != 8080 || got[1].Protocol != "udp" || got[1].ContainerPort != 53 {
		t.Errorf("portMappings = %+v", got)
	}
}
