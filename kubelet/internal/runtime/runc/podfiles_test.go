package runc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodHostname(t *testing.T) {
	host, _ := os.Hostname()
	long := strings.Repeat("a", 70)
	tests := []struct {
		name string
		spec v1.PodSpec
		pod  string
		want string
	}{
		{"the pod's name", v1.PodSpec{}, "web-0", "web-0"},
		{"spec.hostname wins", v1.PodSpec{Hostname: "db"}, "web-0", "db"},
		{"at most 63 characters", v1.PodSpec{}, long, long[:63]},
		{"the node's on the host network", v1.PodSpec{HostNetwork: true, Hostname: "db"}, "web-0", host},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.pod}, Spec: tc.spec}
			if got := podHostname(pod); got != tc.want {
				t.Errorf("podHostname = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWritePodFiles(t *testing.T) {
	dir := t.TempDir()
	ndots := "2"
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"},
		Spec: v1.PodSpec{
			Subdomain: "web", DNSPolicy: v1.DNSNone,
			DNSConfig:   &v1.PodDNSConfig{Nameservers: []string{"10.96.0.10"}, Searches: []string{"shop.svc.cluster.local"}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}, {Name: "edns0"}}},
			HostAliases: []v1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}},
		},
	}
	if err := writePodFiles(dir, pod, "web-0", "10.244.1.7"); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("hostname"); got != "web-0\n" {
		t.Errorf("hostname %q", got)
	}
	if got, want := read("resolv.conf"), "nameserver 10.96.0.10\nsearch shop.svc.cluster.local\noptions ndots:2 edns0\n"; got != want {
		t.Errorf("resolv.conf %q, want %q", got, want)
	}
	hosts := read("hosts")
	for _, want := range []string{
		"127.0.0.1\tlocalhost\n",
		"10.244.1.7\tweb-0.web.shop.svc.cluster.local\tweb-0\n",
		"# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.local\n",
	} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts lacks %q:\n%s", want, hosts)
		}
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
