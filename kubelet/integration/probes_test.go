package integration

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestProbes(t *testing.T) {
	n := startNode(t)
	// Readiness by exec: not Ready until the file exists.
	r := sh("c", "exec sleep 3600")
	r.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}}, PeriodSeconds: 1}
	n.create(n.pod("readiness", r))
	p := n.waitPod("readiness", 60*time.Second, "running, not Ready", func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	time.Sleep(2 * time.Second)
	if p = n.get("readiness"); podReady(p) {
		t.Fatalf("Ready before its readiness probe succeeded: %s", statusSummary(p))
	}
	if res := n.exec("readiness", "c", "", false, "touch", "/tmp/ready"); res.err != nil {
		t.Fatal(res.err)
	}
	n.waitPod("readiness", 20*time.Second, "Ready", podReady)

	// Liveness by HTTP, readiness by TCP: the page goes, the container is
	// restarted.
	l := sh("c", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www")
	// The probes name the container's port, as charts made by `helm
	// create` do.
	l.Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	l.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 1, FailureThreshold: 2}
	l.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromString("http")}}, PeriodSeconds: 1}
	lp := n.pod("liveness", l)
	lp.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	n.create(lp)
	n.waitRunning("liveness")
	if res := n.exec("liveness", "c", "", false, "rm", "/www/healthz"); res.err != nil {
		t.Fatal(res.err)
	}
	n.waitPod("liveness", 30*time.Second, "restarted", func(p *v1.Pod) bool {
		return p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	eventually(t, 10*time.Second, "Unhealthy and Killing events", func() (bool, error) {
		unhealthy, killing := false, false
		for _, e := range n.events("liveness") {
			unhealthy = unhealthy || (e.Reason == "Unhealthy" && strings.Contains(e.Message, "Liveness probe failed"))
			killing = killing || (e.Reason == "Killing" && strings.Contains(e.Message, "failed liveness probe"))
		}
		return unhealthy && killing, nil
	})
	// A new attempt has its page back: Ready again.
	n.waitPod("liveness", 30*time.Second, "Ready again", podReady)
}
