package dns

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHostnameAndDomain(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	str := func(s string) *string { return &s }
	tests := []struct {
		name         string
		pod          string
		spec         v1.PodSpec
		wantHostname string
		wantDomain   string
		wantErr      string
	}{
		{"the pod's name", "web-0", v1.PodSpec{}, "web-0", "", ""},
		{"spec.hostname wins", "web-0", v1.PodSpec{Hostname: "db"}, "db", "", ""},
		{"a subdomain gives the domain under the namespace's Services", "web-0", v1.PodSpec{Subdomain: "nginx"}, "web-0", "nginx.shop.svc.cluster.local", ""},
		{"hostname and subdomain", "x", v1.PodSpec{Hostname: "db", Subdomain: "nginx"}, "db", "nginx.shop.svc.cluster.local", ""},
		{"cut to 63 characters, without a trailing dash", long, v1.PodSpec{}, strings.Repeat("a", 62), "", ""},
		{"hostnameOverride as it is, with no domain", "web-0", v1.PodSpec{HostnameOverride: str("db.example"), Subdomain: "nginx"}, "db.example", "", ""},
		{"an invalid hostname", "web-0", v1.PodSpec{Hostname: "No_Good"}, "", "", `pod Hostname "No_Good" is not a valid DNS label`},
		{"an invalid subdomain", "web-0", v1.PodSpec{Subdomain: "a.b"}, "", "", `pod Subdomain "a.b" is not a valid DNS label`},
		{"an invalid hostnameOverride", "web-0", v1.PodSpec{HostnameOverride: str("-x")}, "", "", `pod HostnameOverride "-x" is not a valid DNS subdomain`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.pod, Namespace: "shop"}, Spec: tc.spec}
			h, d, err := HostnameAndDomain(pod, "cluster.local")
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.HasPrefix(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if h != tc.wantHostname || d != tc.wantDomain {
				t.Errorf("got %q %q, want %q %q", h, d, tc.wantHostname, tc.wantDomain)
			}
		})
	}
}

func TestKernelHostname(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name     string
		hostname string
		domain   string
		fqdn     *bool
		want     string
		wantErr  string
	}{
		{"unset", "web-0", "nginx.shop.svc.cluster.local", nil, "web-0", ""},
		{"false", "web-0", "nginx.shop.svc.cluster.local", &no, "web-0", ""},
		{"the FQDN", "web-0", "nginx.shop.svc.cluster.local", &yes, "web-0.nginx.shop.svc.cluster.local", ""},
		{"no domain, no FQDN", "web-0", "", &yes, "web-0", ""},
		{"an FQDN too long for the kernel", strings.Repeat("h", 40), "nginx.shop.svc.cluster.local", &yes, "",
			"failed to construct FQDN from pod hostname and cluster domain, FQDN " + strings.Repeat("h", 40) + ".nginx.shop.svc.cluster.local is too long (64 characters is the max, 69 characters requested)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KernelHostname(tc.hostname, tc.domain, tc.fqdn)
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHostsFile(t *testing.T) {
	const head = "# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n"
	aliases := []v1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}, {IP: "10.0.0.10", Hostnames: []string{"cache"}}}
	tests := []struct {
		name     string
		ips      []string
		hostname string
		domain   string
		aliases  []v1.HostAlias
		want     string
	}{
		{"the pod's IP and host name", []string{"10.244.1.7"}, "web-0", "", nil, head + "10.244.1.7\tweb-0\n"},
		{"with a domain, the FQDN first", []string{"10.244.1.7"}, "web-0", "nginx.shop.svc.cluster.local", nil,
			head + "10.244.1.7\tweb-0.nginx.shop.svc.cluster.local\tweb-0\n"},
		{"every IP of a dual-stack pod", []string{"10.244.1.7", "fd00::7"}, "web-0", "", nil, head + "10.244.1.7\tweb-0\nfd00::7\tweb-0\n"},
		{"hostAliases after their comment", []string{"10.244.1.7"}, "web-0", "", aliases,
			head + "10.244.1.7\tweb-0\n\n# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.local\n10.0.0.10\tcache\n"},
		{"no IP yet", nil, "web-0", "", nil, head},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(HostsFile(tc.ips, tc.hostname, tc.domain, tc.aliases)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestNodeHostsFile(t *testing.T) {
	node := []byte("127.0.0.1 localhost\n192.0.2.2 vm\n")
	tests := []struct {
		name    string
		aliases []v1.HostAlias
		want    string
	}{
		{"the node's", nil, "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.2 vm\n"},
		{"the node's and the hostAliases", []v1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db"}}},
			"# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.2 vm\n\n# Entries added by HostAliases.\n10.0.0.9\tdb\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(NodeHostsFile(node, tc.aliases)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
