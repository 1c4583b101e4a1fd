package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/shared/netnstest"
	"coracle.dev/shared/testserver"
)

// webPort is where every web pod's httpd serves its own name.
const webPort = 8080

// webPod is a busybox pod on the node serving its hostname (the pod's
// name) over HTTP. Its shell stays PID 1 and exits on SIGTERM, so that
// stopping it does not wait out a grace period (httpd as PID 1 would
// ignore SIGTERM).
func webPod(name, nodeName string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{
			NodeName: nodeName,
			Containers: []v1.Container{{
				Name: "web", Image: "busybox",
				Command: []string{"sh", "-c", fmt.Sprintf(
					"mkdir -p /www; hostname > /www/index.html; trap 'kill $!; exit 0' TERM; httpd -f -p %d -h /www & wait", webPort)},
				Ports: []v1.ContainerPort{{Name: "http", ContainerPort: webPort}},
				ReadinessProbe: &v1.Probe{
					ProbeHandler:  v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(webPort)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
}

// TestServicesReachKubeletPods runs a whole node (kubelet, runc pods,
// kube-proxy) in a network namespace, with the controller manager
// writing the EndpointSlices, and checks a NodePort Service with real
// traffic: its cluster IP from the node and from a pod (hairpin
// included), its node port from outside the node.
func TestServicesReachKubeletPods(t *testing.T) {
	begin := time.Now()
	ts := testserver.Start(t)
	client := kubernetes.NewForConfigOrDie(ts.Config)
	ctx := context.Background()
	startControllerManager(t, ts)
	n := startNode(t, ts)
	t.Logf("node ready after %v", time.Since(begin).Round(time.Millisecond))

	pods := []string{"web-0", "web-1", "web-2"}
	for _, name := range pods {
		if _, err := client.CoreV1().Pods("default").Create(ctx, webPod(name, n.name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
	}
	svc, err := client.CoreV1().Services("default").Create(ctx, &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: v1.ServiceSpec{
			Type:     v1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"},
			Ports:    []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}

	// Pods ready (their readiness probe passed), by name: UID and IP.
	ready := map[string]*v1.Pod{}
	eventually(t, 60*time.Second, "the pods ready", func() (bool, string) {
		list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err.Error()
		}
		var state []string
		for i := range list.Items {
			p := &list.Items[i]
			if p.Status.PodIP != "" && podReady(p) {
				ready[p.Name] = p
			}
			state = append(state, fmt.Sprintf("%s %s ip=%q ready=%v", p.Name, p.Status.Phase, p.Status.PodIP, podReady(p)))
		}
		return len(ready) == len(pods), strings.Join(state, "; ")
	})
	t.Logf("pods ready after %v", time.Since(begin).Round(time.Millisecond))
	for _, p := range ready {
		if _, cidr, _ := net.ParseCIDR(n.podCIDR); !cidr.Contains(net.ParseIP(p.Status.PodIP)) {
			t.Fatalf("pod %s has IP %s, outside the node's pod CIDR %s", p.Name, p.Status.PodIP, n.podCIDR)
		}
	}

	eventually(t, 30*time.Second, "the controller manager's EndpointSlice with every pod ready", func() (bool, string) {
		slices, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					got = append(got, ep.Addresses...)
				}
			}
		}
		return len(got) == len(pods), fmt.Sprint(got)
	})

	clusterURL := fmt.Sprintf("http://%s/", net.JoinHostPort(svc.Spec.ClusterIP, "80"))
	nodePort := svc.Spec.Ports[0].NodePort
	nodePortURL := fmt.Sprintf("http://%s/", net.JoinHostPort(nodeIP, fmt.Sprint(nodePort)))
	// kube-proxy programs the rules once it has seen the slice, which it
	// may first see with fewer pods ready: wait until every pod answers
	// (each misses 30 requests with a probability under 1e-5).
	eventually(t, 20*time.Second, "the cluster IP answering from every pod", func() (bool, string) {
		got := map[string]int{}
		for i := 0; i < 30; i++ {
			body, err := n.ns.Get(clusterURL)
			if err != nil || ready[body] == nil {
				return false, fmt.Sprint(body, err)
			}
			got[body]++
		}
		return len(got) == len(ready), fmt.Sprint(got)
	})
	t.Logf("service answering after %v", time.Since(begin).Round(time.Millisecond))

	t.Run("cluster IP from the node reaches several pods", func(t *testing.T) {
		got := answers(t, n.ns, clusterURL, 30, ready)
		// All 30 from one of 3 backends has a probability of 3·3⁻³⁰.
		if len(got) < 2 {
			t.Errorf("30 requests answered by %v; want several pods", got)
		}
	})

	t.Run("node port answers from outside the node", func(t *testing.T) {
		got := answers(t, n.outside, nodePortURL, 10, ready)
		t.Logf("answers: %v", got)
	})

	t.Run("cluster IP from a pod, hairpin included", func(t *testing.T) {
		self := ready["web-0"]
		got := answers(t, n.podNetns(string(self.UID)), clusterURL, 30, ready)
		// A pod reaches itself through its Service (hairpin) on a third of
		// the requests; never in 30 has a probability of (2/3)³⁰ < 1e-5.
		if got[self.Name] == 0 {
			t.Errorf("30 requests from %s answered by %v; want %s itself among them", self.Name, got, self.Name)
		}
		if len(got) < 2 {
			t.Errorf("30 requests from %s answered by %v; want several pods", self.Name, got)
		}
	})
	t.Logf("checks done after %v", time.Since(begin).Round(time.Millisecond))
}

// answers makes n requests from ns, each on a new connection, and counts
// them by answering pod; every request must succeed and be answered by
// one of the pods.
func answers(t *testing.T, ns netnstest.NS, url string, n int, pods map[string]*v1.Pod) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		body, err := ns.Get(url)
		if err != nil {
			t.Fatalf("request %d of %d, GET %s from %s: %v (so far: %v)", i+1, n, url, ns.Name, err, got)
		}
		if pods[body] == nil {
			t.Fatalf("GET %s from %s: answered %q, not a pod's name", url, ns.Name, body)
		}
		got[body]++
	}
	return got
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
