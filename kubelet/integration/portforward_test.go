package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// portForward is one kubectl port-forward process.
type portForward struct {
	cmd *exec.Cmd
	// local maps each remote port to the local port kubectl listens on.
	local map[string]string
	mu    sync.Mutex
	out   bytes.Buffer // kubectl's output after the Forwarding lines
	done  chan struct{}
}

var forwardingLine = regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)

// startPortForward runs the real kubectl port-forward for target with
// local ports kubectl picks, and returns once it forwards every port.
// With env set, kubectl runs with it added to its environment.
func (n *node) startPortForward(kubectl string, env []string, target string, ports ...string) *portForward {
	n.t.Helper()
	args := []string{"--kubeconfig", n.ts.Kubeconfig, "-n", n.ns, "port-forward", "--address", "127.0.0.1", target}
	for _, p := range ports {
		args = append(args, ":"+p)
	}
	pf := &portForward{cmd: exec.Command(kubectl, args...), local: map[string]string{}, done: make(chan struct{})}
	if env != nil {
		pf.cmd.Env = append(os.Environ(), env...)
	}
	stdout, err := pf.cmd.StdoutPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	pf.cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		pf.mu.Lock()
		defer pf.mu.Unlock()
		return pf.out.Write(b)
	})
	if err := pf.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		_ = pf.cmd.Process.Kill()
		<-pf.done
	})
	ready := make(chan struct{})
	go func() {
		defer close(pf.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			pf.mu.Lock()
			if m := forwardingLine.FindStringSubmatch(sc.Text()); m != nil {
				pf.local[m[2]] = m[1]
				if len(pf.local) == len(ports) {
					close(ready)
				}
			} else {
				pf.out.WriteString(sc.Text() + "\n")
			}
			pf.mu.Unlock()
		}
		_ = pf.cmd.Wait()
	}()
	select {
	case <-ready:
	case <-pf.done:
		n.t.Fatalf("kubectl port-forward %s ended: %s", target, pf.output())
	case <-time.After(30 * time.Second):
		n.t.Fatalf("kubectl port-forward %s did not forward %v in 30s: %s", target, ports, pf.output())
	}
	return pf
}

func (pf *portForward) output() string {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.out.String()
}

// get fetches / through the local end of remote port, on a connection
// of its own.
func (pf *portForward) get(remote string) (string, error) {
	pf.mu.Lock()
	local := pf.local[remote]
	pf.mu.Unlock()
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://127.0.0.1:" + local + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestKubectlPortForward forwards ports of a pod, and of a Service, with
// the real kubectl through the apiserver to this kubelet, which dials
// them inside the pod's network namespace.
func TestKubectlPortForward(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: the compatibility tests need the real kubectl in PATH")
	}
	n := startNode(t)
	// Two web servers on the pod's loopback-reachable ports; ready once
	// both answer, so no forwarded connection finds a port closed.
	c := sh("c", "mkdir -p /a /b && echo body-8080 > /a/index.html && echo body-9090 > /b/index.html && { httpd -f -p 9090 -h /b & } && exec httpd -f -p 8080 -h /a")
	c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "wget -q -O /dev/null http://127.0.0.1:8080/ && wget -q -O /dev/null http://127.0.0.1:9090/"}}}, PeriodSeconds: 1}
	p := n.pod("pf", c)
	p.Labels = map[string]string{"app": "pf"}
	n.create(p)
	uid := n.waitRunning("pf").UID

	pf := n.startPortForward(kubectl, nil, "pod/pf", "8080", "9090")
	// 100 connections at once through one session, each its own pair of
	// streams to the kubelet and its own connection in the pod.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := pf.get("8080")
			if err == nil && body != "body-8080\n" {
				err = fmt.Errorf("body %q", body)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed == 0 {
			t.Errorf("GET through port-forward 8080: %v", err)
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of 100 GETs failed; kubectl: %s", failed, pf.output())
	}
	// The second port of the same session.
	if body, err := pf.get("9090"); err != nil || body != "body-9090\n" {
		t.Errorf("GET through port-forward 9090: %q, %v; kubectl: %s", body, err, pf.output())
	}

	// kubectl tunnels SPDY in a WebSocket by default; plain SPDY, as
	// older kubectls speak it, when told.
	spdyOnly := n.startPortForward(kubectl, []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}, "pod/pf", "8080", "9090")
	for _, port := range []string{"8080", "9090", "8080"} {
		if body, err := spdyOnly.get(port); err != nil || body != "body-"+port+"\n" {
			t.Errorf("GET through port-forward over SPDY %s: %q, %v; kubectl: %s", port, body, err, spdyOnly.output())
		}
	}

	// A Service: kubectl picks a pod of its selector and forwards to the
	// target port of the Service's port.
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "pf", Namespace: n.ns},
		Spec: v1.ServiceSpec{
			Selector: map[string]string{"app": "pf"},
			Ports:    []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(9090)}},
		},
	}
	if _, err := n.client.CoreV1().Services(n.ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	sf := n.startPortForward(kubectl, nil, "svc/pf", "80")
	sf.mu.Lock()
	sf.local["80"] = sf.local["9090"]
	sf.mu.Unlock()
	if body, err := sf.get("80"); err != nil || body != "body-9090\n" {
		t.Errorf("GET through port-forward svc/pf 80: %q, %v; kubectl: %s", body, err, sf.output())
	}

	// A port nothing listens on: the kubelet reports the dial's failure
	// on the connection's error stream, which kubectl prints; kubectl
	// then ends its session (as it does since 1.29), but the kubelet's
	// other sessions go on.
	bad := n.startPortForward(kubectl, nil, "pod/pf", "7070")
	if body, err := bad.get("7070"); err == nil {
		t.Errorf("GET through port-forward 7070 answered %q", body)
	}
	select {
	case <-bad.done:
	case <-time.After(20 * time.Second):
		t.Errorf("kubectl port-forward to a closed port still runs")
	}
	want := fmt.Sprintf("error forwarding port 7070 to pod pf, uid %s: dial tcp4 127.0.0.1:7070: connect: connection refused", uid)
	if out := bad.output(); !strings.Contains(out, want) {
		t.Errorf("kubectl port-forward to a closed port said %q, want it to contain %q", out, want)
	}
	if body, err := pf.get("8080"); err != nil || body != "body-8080\n" {
		t.Errorf("GET through the first session after another failed: %q, %v; kubectl: %s", body, err, pf.output())
	}
}
