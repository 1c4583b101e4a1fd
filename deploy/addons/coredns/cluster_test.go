package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"coracle.dev/shared/kubeconfig"
	"coracle.dev/shared/testserver"
)

// ns is the namespace the test's Services and Pods live in.
const ns = "dns-test"

// Upstream names: only the test's upstream knows them, so an answer
// proves CoreDNS forwarded the question.
const (
	upstreamName = "upstream.example.test"
	upstreamIP   = "203.0.113.8"
	externalName = "db.example.test"
	externalIP   = "203.0.113.7"
)

// TestClusterDNS runs the coredns binary against the real apiserver with
// the manifest's own Corefile, and asks it what Kubernetes' DNS
// specification says a cluster answers.
//
// Two instances run side by side. "manifest" is the add-on as it is
// deployed: the manifest's objects created through the API, its Corefile
// with only addresses changed, the coredns ServiceAccount's token and so
// exactly the rights its ClusterRole grants, read as JSON through a
// kubeconfig. "protobuf" reaches the apiserver the way the in-cluster
// configuration does (the plugin asks for protobuf whenever it builds
// the client itself, from endpoint and tls), and verifies pod names
// against the Pods it watches (pods verified: a field-selected watch).
func TestClusterDNS(t *testing.T) {
	ts := testserver.Start(t)
	cfg := rest.CopyConfig(ts.Config)
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	for _, w := range applyManifest(t, cfg) {
		t.Logf("apiserver warning on the manifest: %s", w)
	}
	checkStored(t, client)

	up := startUpstream(t, map[string]string{upstreamName: upstreamIP, externalName: externalIP})
	fx := createFixtures(t, client)

	corefile := readManifestCorefile(t)
	dir := t.TempDir()

	tokenKubeconfig := filepath.Join(dir, "coredns.kubeconfig")
	writeServiceAccountKubeconfig(t, client, cfg, tokenKubeconfig)
	manifestAddrs := freeAddrs(t, 4)
	manifest := startClusterInstance(t, "coredns-manifest", filepath.Join(dir, "Corefile.manifest"), localCorefile(t, corefile, manifestAddrs, up.addr,
		"kubernetes cluster.local in-addr.arpa ip6.arpa {",
		"kubernetes cluster.local in-addr.arpa ip6.arpa {\n       kubeconfig "+tokenKubeconfig+" coredns@coracle",
	), manifestAddrs)

	cert, key, ca := writeAdminCerts(t, cfg, dir)
	protobufAddrs := freeAddrs(t, 4)
	protobuf := startClusterInstance(t, "coredns-protobuf", filepath.Join(dir, "Corefile.protobuf"), localCorefile(t, corefile, protobufAddrs, up.addr,
		"kubernetes cluster.local in-addr.arpa ip6.arpa {",
		"kubernetes cluster.local in-addr.arpa ip6.arpa {\n       endpoint "+cfg.Host+"\n       tls "+cert+" "+key+" "+ca,
		"pods insecure", "pods verified",
	), protobufAddrs)

	// rcodeByAnswer is the rcode of a case whose answer differs by
	// instance: NOERROR where records are wanted, NXDOMAIN where none are.
	const rcodeByAnswer = -1
	webFQDN := "web." + ns + ".svc.cluster.local."
	nginx := func(host string) string { return host + ".nginx." + ns + ".svc.cluster.local." }
	type answers map[string][]string // instance name -> answer RRs; "*" for all
	all := func(rrs ...string) answers { return answers{"*": rrs} }
	cases := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		want  answers
	}{
		{"ClusterIP Service has an A record of its ClusterIP",
			webFQDN, dns.TypeA, dns.RcodeSuccess, all("A " + fx.webIP)},
		{"kube-dns Service has the cluster DNS address",
			"kube-dns.kube-system.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, all("A " + clusterDNSIP)},
		{"headless Service has an A record of every ready endpoint, from every slice",
			"nginx." + ns + ".svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, all("A 10.244.1.10", "A 10.244.1.11", "A 10.244.2.10")},
		{"endpoint with a hostname is hostname.subdomain",
			nginx("web-0"), dns.TypeA, dns.RcodeSuccess, all("A 10.244.1.10")},
		{"endpoint that is not ready has no name",
			nginx("web-2"), dns.TypeA, dns.RcodeNameError, all()},
		{"named port of a ClusterIP Service has an SRV record",
			"_http._tcp." + webFQDN, dns.TypeSRV, dns.RcodeSuccess, all("SRV 0 100 80 " + webFQDN)},
		{"named port of a headless Service has an SRV record per ready endpoint",
			"_web._tcp.nginx." + ns + ".svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
			all("SRV 0 33 8080 "+nginx("web-0"), "SRV 0 33 8080 "+nginx("web-1"), "SRV 0 33 8080 "+nginx("10-244-2-10"))},
		{"ExternalName Service is a CNAME, resolved upstream",
			"db." + ns + ".svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, all("CNAME "+externalName+".", "A "+externalIP)},
		{"ClusterIP has a PTR record",
			reverse(t, fx.webIP), dns.TypePTR, dns.RcodeSuccess, all("PTR " + webFQDN)},
		{"endpoint IP has a PTR record of its hostname",
			reverse(t, "10.244.1.10"), dns.TypePTR, dns.RcodeSuccess, all("PTR " + nginx("web-0"))},
		{"unknown Service is NXDOMAIN",
			"nosuch." + ns + ".svc.cluster.local.", dns.TypeA, dns.RcodeNameError, all()},
		{"unknown namespace is NXDOMAIN",
			"web.nosuch.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, all()},
		{"pod A record from its dashed IP",
			"10-244-7-9." + ns + ".pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, all("A 10.244.7.9")},
		{"pod A record of an IP no pod has: insecure answers, verified does not",
			"10-244-7-99." + ns + ".pod.cluster.local.", dns.TypeA, rcodeByAnswer,
			answers{"coredns-manifest": {"A 10.244.7.99"}, "coredns-protobuf": nil}},
		{"name outside the cluster is forwarded upstream",
			upstreamName + ".", dns.TypeA, dns.RcodeSuccess, all("A " + upstreamIP)},
		{"unknown name outside the cluster is the upstream's NXDOMAIN",
			"nosuch.example.test.", dns.TypeA, dns.RcodeNameError, all()},
		{"reverse name outside the cluster falls through to upstream",
			reverse(t, upstreamIP), dns.TypePTR, dns.RcodeNameError, all()},
	}
	for _, in := range []*clusterInstance{manifest, protobuf} {
		t.Run(in.name, func(t *testing.T) {
			for _, c := range cases {
				want, ok := c.want[in.name]
				if !ok {
					want = c.want["*"]
				}
				rcode := c.rcode
				if rcode == rcodeByAnswer {
					rcode = dns.RcodeSuccess
					if len(want) == 0 {
						rcode = dns.RcodeNameError
					}
				}
				t.Run(c.name, func(t *testing.T) {
					r, err := in.query(c.qname, c.qtype)
					if err != nil {
						t.Fatal(err)
					}
					if r.Rcode != rcode {
						t.Errorf("%s %s: rcode %s, want %s\n%v", dns.TypeToString[c.qtype], c.qname, dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode], r)
					}
					if got := rdata(r.Answer); !slices.Equal(got, sorted(want)) {
						t.Errorf("%s %s: answer %q, want %q", dns.TypeToString[c.qtype], c.qname, got, sorted(want))
					}
				})
			}
		})
	}
	if up.queries.Load() == 0 {
		t.Errorf("the upstream was never asked")
	}

	t.Run("changes are served within seconds", func(t *testing.T) {
		instances := []*clusterInstance{manifest, protobuf}
		lateFQDN := "late." + ns + ".svc.cluster.local."
		for _, in := range instances {
			if r, err := in.query(lateFQDN, dns.TypeA); err != nil || r.Rcode != dns.RcodeNameError {
				t.Fatalf("%s: %s before the Service exists: %v %v", in.name, lateFQDN, r, err)
			}
		}
		start := time.Now()
		late := createService(t, client, clusterIPService("late", "http", 80))
		// web-2 becomes ready: the headless Service gains it.
		slice, err := client.DiscoveryV1().EndpointSlices(ns).Get(ctx, "nginx-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slice.Endpoints[2].Conditions.Ready = ptr.To(true)
		if _, err := client.DiscoveryV1().EndpointSlices(ns).Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, in := range instances {
			eventually(t, 10*time.Second, in.name+": new Service and ready endpoint served", func() error {
				if err := expect(in, lateFQDN, dns.TypeA, "A "+late.Spec.ClusterIP); err != nil {
					return err
				}
				if err := expect(in, nginx("web-2"), dns.TypeA, "A 10.244.1.12"); err != nil {
					return err
				}
				return expect(in, "nginx."+ns+".svc.cluster.local.", dns.TypeA, "A 10.244.1.10", "A 10.244.1.11", "A 10.244.1.12", "A 10.244.2.10")
			})
			t.Logf("%s serves the changes %s after they were made", in.name, time.Since(start).Round(time.Millisecond))
		}
	})
}

// clusterInstance is a coredns process serving the cluster zone.
type clusterInstance struct {
	*instance
	name string
}

// startClusterInstance writes corefile to path, starts coredns on it and
// waits until it serves: its kubernetes plugin has listed and watches.
// addrs are the DNS, health, ready and metrics addresses localCorefile
// put in corefile.
func startClusterInstance(t *testing.T, name, path, corefile string, addrs []string) *clusterInstance {
	t.Helper()
	writeFile(t, path, corefile)
	in := startCoreDNS(t, name, path, addrs[0])
	in.waitReady(t, addrs[2])
	// The ready plugin answers once the kubernetes plugin has synced,
	// which CoreDNS waits for before it opens the DNS listeners: a
	// moment later.
	eventually(t, 30*time.Second, name+" serves the cluster zone", func() error {
		r, err := in.query("cluster.local.", dns.TypeSOA)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			return fmt.Errorf("SOA cluster.local.: %v", r)
		}
		return nil
	})
	return &clusterInstance{instance: in, name: name}
}

// readManifestCorefile is the Corefile of the manifest's ConfigMap.
func readManifestCorefile(t *testing.T) string {
	t.Helper()
	cm := find[*corev1.ConfigMap](t, readManifest(t), "coredns")
	return cm.Data["Corefile"]
}

// localCorefile is the manifest's Corefile made to run as a test's
// process: served on 127.0.0.1 at addrs (DNS, health, ready, metrics),
// forwarding to the test's upstream rather than the node's resolv.conf,
// then with the further (old, new) replacements made. Each text replaced
// must occur exactly once, so the test notices when the manifest's
// Corefile changes under it.
func localCorefile(t *testing.T, corefile string, addrs []string, upstreamAddr string, more ...string) string {
	t.Helper()
	port := addrs[0][strings.LastIndexByte(addrs[0], ':')+1:]
	repl := append([]string{
		".:53 {", ".:" + port + " {\n    bind 127.0.0.1",
		"health {", "health " + addrs[1] + " {",
		"    ready\n", "    ready " + addrs[2] + "\n",
		"prometheus :9153", "prometheus " + addrs[3],
		"forward . /etc/resolv.conf {", "forward . " + upstreamAddr + " {",
	}, more...)
	for i := 0; i+1 < len(repl); i += 2 {
		if n := strings.Count(corefile, repl[i]); n != 1 {
			t.Fatalf("the manifest's Corefile holds %q %d times, want once:\n%s", repl[i], n, corefile)
		}
		corefile = strings.Replace(corefile, repl[i], repl[i+1], 1)
	}
	return corefile
}

// fixtures are what createFixtures made that the questions depend on.
type fixtures struct {
	webIP string // ClusterIP of Service web
}

// createFixtures makes the namespace's Services, EndpointSlices and Pod:
//
//	web    ClusterIP, port http 80
//	nginx  headless, port web 8080; slice nginx-a: web-0 and web-1 ready,
//	       web-2 not ready; slice nginx-b: 10.244.2.10 ready, no hostname
//	db     ExternalName db.example.test
//	pod    10.244.7.9, Running
//
// There is no controller manager: the test writes the EndpointSlices the
// EndpointSlice controller would.
func createFixtures(t *testing.T, client kubernetes.Interface) fixtures {
	t.Helper()
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := createService(t, client, clusterIPService("web", "http", 80))
	headless := clusterIPService("nginx", "web", 8080)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	createService(t, client, headless)
	createService(t, client, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: externalName},
	})

	endpoint := func(ip, hostname string, ready bool) discoveryv1.Endpoint {
		e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
		if hostname != "" {
			e.Hostname = ptr.To(hostname)
		}
		return e
	}
	for name, eps := range map[string][]discoveryv1.Endpoint{
		"nginx-a": {endpoint("10.244.1.10", "web-0", true), endpoint("10.244.1.11", "web-1", true), endpoint("10.244.1.12", "web-2", false)},
		"nginx-b": {endpoint("10.244.2.10", "", true)},
	} {
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
				discoveryv1.LabelServiceName: "nginx",
				discoveryv1.LabelManagedBy:   "coredns-addon-test",
			}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   eps,
			Ports: []discoveryv1.EndpointPort{{
				Name: ptr.To("web"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP),
			}},
		}
		if _, err := client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	pod, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pod"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = "10.244.7.9"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.7.9"}}
	if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return fixtures{webIP: web.Spec.ClusterIP}
}

func clusterIPService(name, portName string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: portName, Port: port, Protocol: corev1.ProtocolTCP}},
		},
	}
}

func createService(t *testing.T, client kubernetes.Interface, svc *corev1.Service) *corev1.Service {
	t.Helper()
	created, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service %s: %v", svc.Name, err)
	}
	return created
}

// writeServiceAccountKubeconfig writes a kubeconfig, context
// coredns@coracle, holding a token of the manifest's kube-system/coredns
// ServiceAccount: CoreDNS then has the rights its ClusterRole gives, as
// in the cluster, and nothing more.
func writeServiceAccountKubeconfig(t *testing.T, client kubernetes.Interface, cfg *rest.Config, path string) {
	t.Helper()
	tr, err := client.CoreV1().ServiceAccounts(metav1.NamespaceSystem).CreateToken(context.Background(), "coredns",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for kube-system/coredns: %v", err)
	}
	err = kubeconfig.Write(path, kubeconfig.Credentials{
		ClusterName: "coracle",
		Server:      cfg.Host,
		CAData:      fileOrData(t, cfg.CAData, cfg.CAFile),
		UserName:    "coredns",
		Token:       tr.Status.Token,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeAdminCerts writes the admin client certificate, its key and the
// CA as files, for the kubernetes plugin's tls option.
func writeAdminCerts(t *testing.T, cfg *rest.Config, dir string) (cert, key, ca string) {
	t.Helper()
	cert, key, ca = filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key"), filepath.Join(dir, "ca.crt")
	for path, data := range map[string][]byte{
		cert: fileOrData(t, cfg.CertData, cfg.CertFile),
		key:  fileOrData(t, cfg.KeyData, cfg.KeyFile),
		ca:   fileOrData(t, cfg.CAData, cfg.CAFile),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key, ca
}

func fileOrData(t *testing.T, data []byte, file string) []byte {
	t.Helper()
	if len(data) > 0 {
		return data
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expect asks in one question and returns an error unless the answer is
// want (in any order).
func expect(in *clusterInstance, qname string, qtype uint16, want ...string) error {
	r, err := in.query(qname, qtype)
	if err != nil {
		return err
	}
	if got := rdata(r.Answer); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, sorted(want)) {
		return fmt.Errorf("%s %s: %s %q, want %q", dns.TypeToString[qtype], qname, dns.RcodeToString[r.Rcode], got, sorted(want))
	}
	return nil
}

// rdata is each record's type and data, without name and TTL, sorted:
// loadbalance shuffles the order.
func rdata(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		hdr := rr.Header()
		out = append(out, dns.TypeToString[hdr.Rrtype]+" "+strings.TrimPrefix(rr.String(), hdr.String()))
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

// reverse is the in-addr.arpa name of an IPv4 address.
func reverse(t *testing.T, ip string) string {
	t.Helper()
	name, err := dns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return name
}
