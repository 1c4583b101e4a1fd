package dns

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Config
		wantErr string
	}{
		{"empty file", "", Config{Servers: []string{}, Searches: []string{}, Options: []string{}}, ""},
		{"nameservers add up, comments and unknown lines ignored",
			"# generated\nnameserver 10.0.0.1\ndomain example.com\n  nameserver 10.0.0.2  \nsortlist 10.0.0.0\n",
			Config{Servers: []string{"10.0.0.1", "10.0.0.2"}, Searches: []string{}, Options: []string{}}, ""},
		{"the last search line wins, trailing dots and the root dropped",
			"search a.example b.example\nsearch c.example. . d.example\n",
			Config{Servers: []string{}, Searches: []string{"c.example", "d.example"}, Options: []string{}}, ""},
		{"options merge by name, a later one in the earlier's place",
			"options ndots:2 timeout:1\noptions rotate ndots:3\n",
			Config{Servers: []string{}, Searches: []string{}, Options: []string{"ndots:3", "timeout:1", "rotate"}}, ""},
		{"systemd-resolved's stub is passed through",
			"nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
			Config{Servers: []string{"127.0.0.53"}, Searches: []string{}, Options: []string{"edns0", "trust-ad"}}, ""},
		{"a nameserver line without an address",
			"nameserver\nnameserver 10.0.0.1\n",
			Config{Servers: []string{"10.0.0.1"}, Searches: []string{}, Options: []string{}}, "nameserver list is empty "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseResolvConf(strings.NewReader(tc.in))
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestConfigBytes(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want string
	}{
		{"all three, as containerd writes them",
			Config{Servers: []string{"10.96.0.10", "10.96.0.11"}, Searches: []string{"ns.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5", "edns0"}},
			"search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5 edns0\n"},
		{"empty parts are left out", Config{Servers: []string{"1.1.1.1"}}, "nameserver 1.1.1.1\n"},
		{"nothing at all", Config{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.in.Bytes()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPodDNS(t *testing.T) {
	host := Config{Servers: []string{"10.255.255.53"}, Searches: []string{"corp.example"}, Options: []string{"timeout:2"}}
	cluster := Configurer{ClusterDNS: []net.IP{net.ParseIP("10.96.0.10")}, ClusterDomain: "cluster.local", ResolverConfig: DefaultResolvConf}
	clusterSearch := []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	str := func(s string) *string { return &s }
	pod := func(change func(*v1.PodSpec)) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop", UID: "uid-1"}}
		if change != nil {
			change(&p.Spec)
		}
		return p
	}
	missing := `kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`
	longDomain := strings.Repeat("d", 254)
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf("s%d.example", i))
	}
	// 25 domains of 90 characters, fewer than 32 with the cluster's 3
	// but a line of 2329 characters.
	var wide []string
	for i := range 25 {
		wide = append(wide, fmt.Sprintf("%02d", i)+strings.Repeat("w", 88))
	}

	tests := []struct {
		name       string
		configurer Configurer
		host       Config
		pod        *v1.Pod
		want       Config
		wantEvents []Event
	}{
		{"ClusterFirst, the default: the cluster DNS, its search domains then the node's, ndots:5",
			cluster, host, pod(nil),
			Config{Servers: []string{"10.96.0.10"}, Searches: append(clusterSearch, "corp.example"), Options: []string{"ndots:5"}}, nil},
		{"ClusterFirst named",
			cluster, host, pod(func(s *v1.PodSpec) { s.DNSPolicy = v1.DNSClusterFirst }),
			Config{Servers: []string{"10.96.0.10"}, Searches: append(clusterSearch, "corp.example"), Options: []string{"ndots:5"}}, nil},
		{"ClusterFirst on the host network falls back to the node's",
			cluster, host, pod(func(s *v1.PodSpec) { s.DNSPolicy, s.HostNetwork = v1.DNSClusterFirst, true }),
			host, nil},
		{"ClusterFirstWithHostNet on the host network: the cluster's",
			cluster, host, pod(func(s *v1.PodSpec) { s.DNSPolicy, s.HostNetwork = v1.DNSClusterFirstWithHostNet, true }),
			Config{Servers: []string{"10.96.0.10"}, Searches: append(clusterSearch, "corp.example"), Options: []string{"ndots:5"}}, nil},
		{"Default: the node's",
			cluster, host, pod(func(s *v1.PodSpec) { s.DNSPolicy = v1.DNSDefault }),
			host, nil},
		{"Default passes a loopback nameserver through",
			cluster, Config{Servers: []string{"127.0.0.53"}, Options: []string{"edns0"}}, pod(func(s *v1.PodSpec) { s.DNSPolicy = v1.DNSDefault }),
			Config{Servers: []string{"127.0.0.53"}, Options: []string{"edns0"}}, nil},
		{"None: only the dnsConfig",
			cluster, host, pod(func(s *v1.PodSpec) {
				s.DNSPolicy = v1.DNSNone
				s.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.2.3.4"}, Searches: []string{"my.dns.search.suffix"},
					Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: str("2")}, {Name: "edns0"}}}
			}),
			Config{Servers: []string{"1.2.3.4"}, Searches: []string{"my.dns.search.suffix"}, Options: []string{"ndots:2", "edns0"}}, nil},
		{"ClusterFirst with a dnsConfig: nameservers and searches appended, options merged with the pod's winning",
			cluster, host, pod(func(s *v1.PodSpec) {
				s.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"10.96.0.10", "1.2.3.4"}, Searches: []string{"cluster.local", "extra.example"},
					Options: []v1.PodDNSConfigOption{{Name: "edns0"}, {Name: "ndots", Value: str("1")}, {Name: "single-request-reopen", Value: str("")}}}
			}),
			Config{Servers: []string{"10.96.0.10", "1.2.3.4"}, Searches: append(clusterSearch, "corp.example", "extra.example"),
				Options: []string{"ndots:1", "edns0", "single-request-reopen"}}, nil},
		{"Default with a dnsConfig: the node's options overridden by name",
			cluster, host, pod(func(s *v1.PodSpec) {
				s.DNSPolicy = v1.DNSDefault
				s.DNSConfig = &v1.PodDNSConfig{Options: []v1.PodDNSConfigOption{{Name: "timeout", Value: str("5")}, {Name: "attempts", Value: str("3")}}}
			}),
			Config{Servers: host.Servers, Searches: host.Searches, Options: []string{"timeout:5", "attempts:3"}}, nil},
		{"no cluster domain: the node's search domains only",
			Configurer{ClusterDNS: cluster.ClusterDNS, ResolverConfig: DefaultResolvConf}, host, pod(nil),
			Config{Servers: []string{"10.96.0.10"}, Searches: []string{"corp.example"}, Options: []string{"ndots:5"}}, nil},
		{"a node search domain the cluster's already has counts once",
			cluster, Config{Servers: host.Servers, Searches: []string{"cluster.local", "corp.example"}}, pod(nil),
			Config{Servers: []string{"10.96.0.10"}, Searches: append(clusterSearch, "corp.example"), Options: []string{"ndots:5"}}, nil},
		{"several cluster DNS servers",
			Configurer{ClusterDNS: []net.IP{net.ParseIP("10.96.0.10"), net.ParseIP("fd00::a")}, ClusterDomain: "cluster.local"}, Config{}, pod(nil),
			Config{Servers: []string{"10.96.0.10", "fd00::a"}, Searches: clusterSearch, Options: []string{"ndots:5"}}, nil},
		{"ClusterFirst without cluster DNS falls back to the node's, with events on the node and the pod",
			Configurer{ClusterDomain: "cluster.local", ResolverConfig: DefaultResolvConf}, host, pod(nil),
			host, []Event{
				{OnNode: true, Reason: ReasonMissingClusterDNS, Message: missing},
				{Reason: ReasonMissingClusterDNS, Message: `pod: "web-0_shop(uid-1)". ` + missing},
			}},
		{"no node resolv.conf: the node itself, searching nothing",
			Configurer{ClusterDNS: cluster.ClusterDNS}, Config{}, pod(func(s *v1.PodSpec) { s.DNSPolicy = v1.DNSDefault }),
			Config{Servers: []string{"127.0.0.1"}, Searches: []string{"."}}, nil},
		{"no node resolv.conf on an IPv6 node",
			Configurer{NodeIPs: []net.IP{net.ParseIP("fd00::1")}}, Config{}, pod(func(s *v1.PodSpec) { s.DNSPolicy = v1.DNSDefault }),
			Config{Servers: []string{"::1"}, Searches: []string{"."}}, nil},
		{"more than 3 nameservers: the first 3",
			cluster, host, pod(func(s *v1.PodSpec) {
				s.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}}
			}),
			Config{Servers: []string{"10.96.0.10", "1.1.1.1", "2.2.2.2"}, Searches: append(clusterSearch, "corp.example"), Options: []string{"ndots:5"}},
			[]Event{{Reason: ReasonDNSConfigForming, Message: "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.96.0.10 1.1.1.1 2.2.2.2"}}},
		{"more than 32 search domains: the first 32",
			cluster, Config{Searches: many}, pod(nil),
			Config{Servers: []string{"10.96.0.10"}, Searches: append(clusterSearch, many[:29]...), Options: []string{"ndots:5"}},
			[]Event{{Reason: ReasonDNSConfigForming, Message: "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: " +
				strings.Join(append(clusterSearch, many[:29]...), " ")}}},
		{"a search domain longer than a DNS name is dropped",
			cluster, Config{Searches: []string{longDomain, "corp.example"}}, pod(nil),
			Config{Servers: []string{"10.96.0.10"}, Searches: append(clusterSearch, "corp.example"), Options: []string{"ndots:5"}},
			[]Event{{Reason: ReasonDNSConfigForming, Message: "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: " +
				strings.Join(append(clusterSearch, "corp.example"), " ")}}},
		{"a search line over 2048 characters loses domains from its end",
			cluster, Config{Searches: wide}, pod(nil),
			// The cluster's 3 (52 characters and 2 spaces) and 21 wide
			// ones (21*91) make 1965; a 22nd would make 2056.
			Config{Servers: []string{"10.96.0.10"}, Searches: append(clusterSearch, wide[:21]...), Options: []string{"ndots:5"}},
			[]Event{{Reason: ReasonDNSConfigForming, Message: "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: " +
				strings.Join(append(clusterSearch, wide[:21]...), " ")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hostBefore := fmt.Sprint(tc.host)
			got, events := tc.configurer.PodDNS(tc.pod, tc.host)
			if !equalConfig(got, tc.want) {
				t.Errorf("config\n got %q\nwant %q", got, tc.want)
			}
			if !reflect.DeepEqual(events, tc.wantEvents) {
				t.Errorf("events\n got %+v\nwant %+v", events, tc.wantEvents)
			}
			if len(strings.Join(got.Searches, " ")) > MaxDNSSearchListChars {
				t.Errorf("search line of %d characters", len(strings.Join(got.Searches, " ")))
			}
			if fmt.Sprint(tc.host) != hostBefore {
				t.Errorf("the node's configuration was changed: %v", tc.host)
			}
		})
	}
}

// equalConfig compares configurations, an empty list as a nil one.
func equalConfig(a, b Config) bool {
	eq := func(x, y []string) bool { return len(x) == 0 && len(y) == 0 || reflect.DeepEqual(x, y) }
	return eq(a.Servers, b.Servers) && eq(a.Searches, b.Searches) && eq(a.Options, b.Options)
}

func TestHostConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(good, []byte("nameserver 10.0.0.1\nsearch corp.example\noptions ndots:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("nameserver\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		want    Config
		wantErr string
	}{
		{"none", "", Config{}, ""},
		{"a file", good, Config{Servers: []string{"10.0.0.1"}, Searches: []string{"corp.example"}, Options: []string{"ndots:1"}}, ""},
		{"missing", filepath.Join(dir, "missing"), Config{}, "no such file or directory"},
		{"unparsable", bad, Config{}, "Encountered error while parsing resolv conf file. Error: nameserver list is empty "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := (&Configurer{ResolverConfig: tc.path}).HostConfig()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if !equalConfig(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckLimitsForResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	domains := func(n, size int) string {
		var ds []string
		for i := range n {
			ds = append(ds, fmt.Sprintf("%03d", i)+strings.Repeat("x", size-3))
		}
		return "search " + strings.Join(ds, " ") + "\n"
	}
	ok := write("ok", "nameserver 10.0.0.1\n"+domains(29, 10))
	tooMany := write("too-many", domains(30, 10))
	tooLong := write("too-long", "search "+strings.Repeat("y", 254)+"\n")
	tooWide := write("too-wide", domains(9, 250))
	tests := []struct {
		name   string
		path   string
		domain string
		want   string
	}{
		{"no resolv.conf", "", "cluster.local", ""},
		{"29 domains leave room for the cluster's 3", ok, "cluster.local", ""},
		{"30 do not", tooMany, "cluster.local", fmt.Sprintf("Resolv.conf file '%s' contains search line consisting of more than 29 domains!", tooMany)},
		{"30 without a cluster domain fit", tooMany, "", ""},
		{"a domain longer than a DNS name", tooLong, "cluster.local", fmt.Sprintf("Resolv.conf file %q contains a search path which length is more than allowed 253 chars!", tooLong)},
		{"a line longer than 2048", tooWide, "cluster.local", fmt.Sprintf("Resolv.conf file '%s' contains search line which length is more than allowed 2048 chars!", tooWide)},
		{"missing", filepath.Join(dir, "missing"), "cluster.local", "open " + filepath.Join(dir, "missing") + ": no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := (&Configurer{ResolverConfig: tc.path, ClusterDomain: tc.domain}).CheckLimitsForResolvConf()
			switch {
			case tc.want == "" && e != nil:
				t.Errorf("event %+v, want none", e)
			case tc.want != "" && (e == nil || e.Message != tc.want || e.Reason != ReasonCheckLimitsForResolvConf || !e.OnNode):
				t.Errorf("event %+v, want %q on the node", e, tc.want)
			}
		})
	}
}
