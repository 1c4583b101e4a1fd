package multinode

import (
	"context"
	cryptotls "crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"coracle.dev/shared/pki"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testproc"
)

// TestAddons: the cluster deploys its add-ons itself, as make up has
// them (the manifests in the add-on manager's directory, the images
// packed into the local registry). DNS: CoreDNS runs as pods in kube-system
// behind kube-dns at 10.96.0.10, and pods on every node resolve
// Services by short name, svc.ns and FQDN, headless Services to their
// ready pods, StatefulSet pods by hostname.subdomain, ExternalName as a
// CNAME, and ClusterIPs back to names. Ingress: see testIngress. A
// restarted controller manager
// applies the manifests again without duplicating or touching anything.
func TestAddons(t *testing.T) {
	c := newCluster(t, settings{nodeMonitorGracePeriod: 40 * time.Second, addons: []addon{{dir: "coredns", name: "dns"}, {dir: "ingress", name: "ingress"}}})
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		c.addNode(t, i)
	}
	c.poll(t, 3*time.Minute, "coredns available", func() (bool, string) {
		d, err := c.client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if d.Status.AvailableReplicas == 2 {
			return true, ""
		}
		// What the pods are at, for the failure message.
		var states []string
		pods, _ := c.client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		for _, p := range pods.Items {
			states = append(states, fmt.Sprintf("%s@%s %s %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.ContainerStatuses))
		}
		events, _ := c.client.CoreV1().Events("kube-system").List(ctx, metav1.ListOptions{})
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning {
				states = append(states, e.InvolvedObject.Name+": "+e.Reason+": "+e.Message)
			}
		}
		return false, strings.Join(states, "\n")
	})
	dns, err := c.client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || dns.Spec.ClusterIP != "10.96.0.10" {
		t.Fatalf("kube-dns: %v, %v", dns, err)
	}

	ns := "dns-e2e"
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := func(obj any) {
		t.Helper()
		var err error
		switch o := obj.(type) {
		case *corev1.Service:
			_, err = c.client.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.StatefulSet:
			_, err = c.client.AppsV1().StatefulSets(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Pod:
			_, err = c.client.CoreV1().Pods(ns).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	lbls := map[string]string{"app": "peers"}
	sleeper := corev1.PodSpec{
		TerminationGracePeriodSeconds: new(int64),
		Containers: []corev1.Container{{
			Name: "c", Image: "busybox", Command: []string{"sh", "-c", "httpd -f -p 8080 -h /etc & wait"},
			Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
		}},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: lbls},
		}},
	}
	create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: lbls, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
	}})
	create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "peers"}, Spec: corev1.ServiceSpec{
		ClusterIP: corev1.ClusterIPNone, Selector: lbls, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}},
	}})
	create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeExternalName, ExternalName: "web." + ns + ".svc.cluster.local",
	}})
	replicas := int32(2)
	create(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: appsv1.StatefulSetSpec{
		Replicas: &replicas, ServiceName: "peers", PodManagementPolicy: appsv1.ParallelPodManagement,
		Selector: &metav1.LabelSelector{MatchLabels: lbls},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbls}, Spec: sleeper},
	}})
	c.poll(t, 3*time.Minute, "db pods ready", func() (bool, string) {
		list, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=peers"})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, p := range list.Items {
			if podReady(&p) {
				ready++
			}
		}
		return ready == 2, fmt.Sprintf("%d ready", ready)
	})
	pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=peers"})
	if err != nil {
		t.Fatal(err)
	}
	var podIPs []string
	for _, p := range pods.Items {
		podIPs = append(podIPs, p.Status.PodIP)
	}
	slices.Sort(podIPs)
	if pods.Items[0].Spec.NodeName == pods.Items[1].Spec.NodeName {
		t.Fatalf("both db pods on %s: the test wants one per node", pods.Items[0].Spec.NodeName)
	}
	web, err := c.client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// lookup asks the cluster DNS from inside pod with busybox's
	// nslookup, which applies the pod's search list (ndots:5) to
	// single-label names only, and returns its output and the addresses
	// of its answers.
	lookup := func(t *testing.T, pod, name string, args ...string) (string, []string) {
		t.Helper()
		var out string
		var addrs []string
		c.poll(t, time.Minute, "nslookup "+name+" in "+pod, func() (bool, string) {
			o, err := c.ctl(append([]string{"exec", "-n", ns, pod, "--", "nslookup"}, append(args, name)...)...)
			out = o
			addrs = answerAddrs(o)
			// busybox's nslookup fails when any of its queries (A, AAAA
			// in each search domain) does: an answer is what counts.
			return len(addrs) > 0 || strings.Contains(o, "canonical name") || strings.Contains(o, "name = "), o + fmt.Sprint(err)
		})
		return out, addrs
	}
	// resolve is the address the pod's libc resolver (search list,
	// ndots:5) gives name: what ping says it pings.
	resolve := func(t *testing.T, pod, name string) string {
		t.Helper()
		var addr string
		c.poll(t, time.Minute, "resolve "+name+" in "+pod, func() (bool, string) {
			o, _ := c.ctl("exec", "-n", ns, pod, "--", "ping", "-c", "1", "-W", "1", name)
			m := pingLine.FindStringSubmatch(o)
			if m == nil {
				return false, o
			}
			addr = m[1]
			return true, ""
		})
		return addr
	}
	for i, p := range pods.Items {
		t.Run("from "+p.Spec.NodeName, func(t *testing.T) {
			for _, name := range []string{"web", "web." + ns, "web." + ns + ".svc.cluster.local"} {
				if addr := resolve(t, p.Name, name); addr != web.Spec.ClusterIP {
					t.Errorf("%s resolves to %s, want the ClusterIP %s", name, addr, web.Spec.ClusterIP)
				}
			}
			if _, addrs := lookup(t, p.Name, "peers"); !slices.Equal(addrs, podIPs) {
				t.Errorf("headless peers resolves to %v, want the ready pods %v", addrs, podIPs)
			}
			other := pods.Items[1-i]
			if addr := resolve(t, p.Name, other.Name+".peers"); addr != other.Status.PodIP {
				t.Errorf("%s.peers resolves to %s, want %s", other.Name, addr, other.Status.PodIP)
			}
			if out, _ := lookup(t, p.Name, "ext", "-type=cname"); !strings.Contains(out, "canonical name = web."+ns+".svc.cluster.local") {
				t.Errorf("ext: no CNAME to web.%s.svc.cluster.local:\n%s", ns, out)
			}
			if out, _ := lookup(t, p.Name, web.Spec.ClusterIP); !strings.Contains(out, "name = web."+ns+".svc.cluster.local") {
				t.Errorf("no PTR for %s:\n%s", web.Spec.ClusterIP, out)
			}
			// And a real client resolves it: the pod fetches through the
			// Service by name.
			c.poll(t, time.Minute, "http://web/hostname from "+p.Name, func() (bool, string) {
				o, err := c.ctl("exec", "-n", ns, p.Name, "--", "timeout", "5", "wget", "-qO-", "http://web/hostname")
				return err == nil && strings.HasPrefix(o, "db-"), o
			})
		})
	}

	t.Run("ingress", func(t *testing.T) { testIngress(t, c, ns) })

	t.Run("manifests applied again after a restart", func(t *testing.T) {
		before, err := c.client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cm.Stop(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		status := c.cmArgs[slices.Index(c.cmArgs, "--status-address")+1]
		c.cm = testproc.Start(t, "controller-manager-2", testbin.Path(t, "controller-manager"), c.cmArgs...)
		c.cm.WaitReady(t, 60*time.Second, testproc.Readyz(status))
		// The manager looks at every add-on at start (and logs it):
		// nothing may change, nothing be made twice.
		c.poll(t, time.Minute, "the dns add-on synced by the new manager", func() (bool, string) {
			b, err := os.ReadFile(c.cm.LogPath())
			return err == nil && strings.Contains(string(b), `add-on synced	{"addon": "dns"`), "see " + c.cm.LogPath()
		})
		after, err := c.client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Generation != before.Generation || after.UID != before.UID {
			t.Errorf("coredns changed by the restart: generation %d→%d, uid %s→%s", before.Generation, after.Generation, before.UID, after.UID)
		}
		list, err := c.client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "addons.coracle.dev/name=dns"})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("dns add-on deployments: %d, %v", len(list.Items), err)
		}
	})
}

// answerAddrs are the addresses busybox's nslookup printed for its
// answers (after the "Name:" of each), sorted and without duplicates.
func answerAddrs(out string) []string {
	var addrs []string
	inAnswer := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Name:") {
			inAnswer = true
			continue
		}
		if m := addressLine.FindStringSubmatch(line); inAnswer && m != nil && !slices.Contains(addrs, m[1]) {
			addrs = append(addrs, m[1])
		}
	}
	slices.Sort(addrs)
	return addrs
}

var (
	addressLine = regexp.MustCompile(`^Address:\s+(\d+\.\d+\.\d+\.\d+)$`)
	pingLine    = regexp.MustCompile(`PING \S+ \((\d+\.\d+\.\d+\.\d+)\)`)
)

// testIngress: the Ingress add-on serves Ingresses on every node's
// address (its LoadBalancer Service) and shows those addresses in their
// status; it routes by host and by path straight to the pods of two
// workloads, answers 404 for a host no rule names and 503 for a route
// whose Service does not exist (with an event, the other routes
// unaffected), serves HTTPS with a Secret's certificate (plain HTTP to
// that host redirected), and applies a change of an Ingress while it
// serves.
func testIngress(t *testing.T, c *cluster, ns string) {
	ctx := context.Background()
	// A second workload beside the db StatefulSet: a Deployment whose
	// pods answer /api/whoami and /gone/whoami with "api".
	apiLabels := map[string]string{"app": "api"}
	replicas := int32(2)
	_, err := c.client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: apiLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: apiLabels}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: new(int64),
				Containers: []corev1.Container{{
					Name: "c", Image: "busybox",
					Command:        []string{"sh", "-c", "mkdir -p /www/api /www/gone && echo api > /www/api/whoami && echo api > /www/gone/whoami && httpd -f -p 8080 -h /www & wait"},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
				}},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: corev1.ServiceSpec{
		Selector: apiLabels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A certificate for secure.example from a CA only this test trusts.
	ca, err := pki.NewCA("ingress-e2e-ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pki.Request{CommonName: "secure.example", DNSNames: []string{"secure.example"}, Usage: pki.ServerUsage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "secure-cert"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: cert.CertPEM, corev1.TLSPrivateKeyKey: cert.KeyPEM},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	path := func(p string, pt *networkingv1.PathType, svc string, port int32) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: pt, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: port}},
		}}
	}
	rule := func(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
	}
	_, err = c.client.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "site"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{
			// Two paths of one host to two workloads.
			rule("web.example", path("/", &prefix, "web", 80), path("/api", &prefix, "api", 80), path("/gone", &prefix, "nobody", 80)),
			rule("peers.example", path("/hostname", &exact, "peers", 8080)),
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "secure"},
		Spec: networkingv1.IngressSpec{
			TLS:   []networkingv1.IngressTLS{{Hosts: []string{"secure.example"}, SecretName: "secure-cert"}},
			Rules: []networkingv1.IngressRule{rule("secure.example", path("/", &prefix, "api", 80))},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var addrs []string
	c.poll(t, 3*time.Minute, "the Ingress's status shows the nodes' addresses", func() (bool, string) {
		ing, err := c.client.NetworkingV1().Ingresses(ns).Get(ctx, "site", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		addrs = addrs[:0]
		for _, a := range ing.Status.LoadBalancer.Ingress {
			addrs = append(addrs, a.IP)
		}
		if len(addrs) == len(c.nodes) {
			return true, ""
		}
		// Where it is stuck, for the failure message: the controller's
		// pod and its Service's addresses.
		var states []string
		pods, _ := c.client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=coracle-ingress"})
		for _, p := range pods.Items {
			states = append(states, fmt.Sprintf("%s@%s %s %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.ContainerStatuses))
		}
		if svc, err := c.client.CoreV1().Services("kube-system").Get(ctx, "coracle-ingress", metav1.GetOptions{}); err == nil {
			states = append(states, fmt.Sprintf("service %+v", svc.Status))
		}
		events, _ := c.client.CoreV1().Events("kube-system").List(ctx, metav1.ListOptions{})
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning {
				states = append(states, e.InvolvedObject.Name+": "+e.Reason+": "+e.Message)
			}
		}
		return false, fmt.Sprint(ing.Status) + "\n" + strings.Join(states, "\n")
	})

	// get asks addr for path as host, over HTTPS (verifying the
	// certificate against host with the test's CA) when tls is set; it
	// follows no redirects.
	get := func(addr, host, path string, tls bool) (int, http.Header, string, error) {
		scheme := "http"
		client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if tls {
			scheme = "https"
			client.Transport = &http.Transport{TLSClientConfig: &cryptotls.Config{RootCAs: ca.CertPool(), ServerName: host}}
		}
		req, err := http.NewRequest(http.MethodGet, scheme+"://"+addr+path, nil)
		if err != nil {
			return 0, nil, "", err
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b), err
	}
	expect := func(addr, host, path string, tls bool, code int, bodyPrefix string) {
		t.Helper()
		if got, _, body, err := get(addr, host, path, tls); err != nil || got != code || !strings.HasPrefix(body, bodyPrefix) {
			t.Errorf("%s%s through %s (tls %v): %d %q %v, want %d %q…", host, path, addr, tls, got, body, err, code, bodyPrefix)
		}
	}
	for _, addr := range addrs {
		c.poll(t, 2*time.Minute, "web.example through "+addr, func() (bool, string) {
			code, _, body, err := get(addr, "web.example", "/hostname", false)
			return err == nil && code == http.StatusOK && strings.HasPrefix(body, "db-"), fmt.Sprint(code, body, err)
		})
		c.poll(t, time.Minute, "web.example/api through "+addr, func() (bool, string) {
			code, _, body, err := get(addr, "web.example", "/api/whoami", false)
			return err == nil && code == http.StatusOK && body == "api\n", fmt.Sprint(code, body, err)
		})
		expect(addr, "peers.example", "/hostname", false, http.StatusOK, "db-")
		// An Exact path does not match a longer one.
		expect(addr, "peers.example", "/hostname/more", false, http.StatusNotFound, "")
		expect(addr, "nobody.example", "/", false, http.StatusNotFound, "")
		// The route to a missing Service: 503, for it alone.
		expect(addr, "web.example", "/gone/whoami", false, http.StatusServiceUnavailable, "")
		// HTTPS with the Secret's certificate (the client checks it
		// names secure.example and comes from the test's CA).
		c.poll(t, time.Minute, "https://secure.example through "+addr, func() (bool, string) {
			code, _, body, err := get(addr+":443", "secure.example", "/api/whoami", true)
			return err == nil && code == http.StatusOK && body == "api\n", fmt.Sprint(code, body, err)
		})
		if code, header, _, err := get(addr, "secure.example", "/api/whoami?x=1", false); err != nil || code != http.StatusPermanentRedirect ||
			header.Get("Location") != "https://secure.example/api/whoami?x=1" {
			t.Errorf("plain HTTP to secure.example through %s: %d to %q (%v), want 308 to https://secure.example/api/whoami?x=1", addr, code, header.Get("Location"), err)
		}
	}
	c.poll(t, time.Minute, "a ServiceNotFound event on the Ingress", func() (bool, string) {
		events, err := c.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Ingress,involvedObject.name=site"})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if e.Reason == "ServiceNotFound" && strings.Contains(e.Message, "nobody") {
				return true, ""
			}
		}
		return false, fmt.Sprint(events.Items)
	})

	// A change is applied while the controller serves: the missing
	// Service's route now goes to api. (How fast, on a quiet machine,
	// is what the benchmark measures; here it is logged.)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		site, err := c.client.NetworkingV1().Ingresses(ns).Get(ctx, "site", metav1.GetOptions{})
		if err != nil {
			return err
		}
		site.Spec.Rules[0].HTTP.Paths[2] = path("/gone", &prefix, "api", 80)
		_, err = c.client.NetworkingV1().Ingresses(ns).Update(ctx, site, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	c.poll(t, time.Minute, "the changed route served", func() (bool, string) {
		code, _, body, err := get(addrs[0], "web.example", "/gone/whoami", false)
		return err == nil && code == http.StatusOK && body == "api\n", fmt.Sprint(code, body, err)
	})
	t.Logf("the changed Ingress was served %v after the update", time.Since(changed).Round(time.Millisecond))
}
