package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestStartupProbe: a container whose startup probe succeeds after a
// few seconds is neither started nor ready until then, and its liveness
// probe (which would fail until then) is not run before: it is not
// restarted. A container whose startup probe never succeeds is killed
// after failureThreshold failures and restarted, with Kubernetes'
// Unhealthy and Killing events.
func TestStartupProbe(t *testing.T) {
	n := startNode(t)
	started := []string{"test", "-f", "/tmp/started"}
	slow := sh("slow", "trap 'exit 0' TERM; sleep 3; touch /tmp/started; while true; do sleep 1; done")
	slow.StartupProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: started}}, PeriodSeconds: 1, FailureThreshold: 30}
	slow.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: started}}, PeriodSeconds: 1, FailureThreshold: 1}
	never := sh("never", "trap 'exit 0' TERM; while true; do sleep 1; done")
	never.StartupProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: started}}, PeriodSeconds: 1, FailureThreshold: 3}
	p := n.pod("startup", slow, never)
	p.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	n.create(p)

	status := func(p *v1.Pod, name string) *v1.ContainerStatus {
		for i := range p.Status.ContainerStatuses {
			if p.Status.ContainerStatuses[i].Name == name {
				return &p.Status.ContainerStatuses[i]
			}
		}
		return nil
	}
	// Running, but not started and not ready, until the file is there.
	// The container makes it 3s after its start, so a pod seen running
	// and not started proves the gate only if the file was not there
	// yet: ask the container.
	n.waitPod("startup", 60*time.Second, "slow running", func(p *v1.Pod) bool {
		s := status(p, "slow")
		return s != nil && s.State.Running != nil
	})
	pod := n.get("startup")
	s := status(pod, "slow")
	if res := n.exec("startup", "slow", "", false, "test", "-f", "/tmp/started"); res.err == nil {
		t.Log("the container was already started when first seen running; the not-started state is not checked")
	} else if s.State.Running != nil && (s.Started == nil || *s.Started || s.Ready) {
		t.Errorf("before its startup probe succeeded: started %v, ready %v; want false, false", s.Started != nil && *s.Started, s.Ready)
	}

	n.waitPod("startup", 30*time.Second, "slow started and ready", func(p *v1.Pod) bool {
		s := status(p, "slow")
		return s != nil && s.Started != nil && *s.Started && s.Ready
	})

	// The other container is killed for its startup probe and runs
	// again.
	n.waitPod("startup", 60*time.Second, "never restarted", func(p *v1.Pod) bool {
		s := status(p, "never")
		return s != nil && s.RestartCount >= 1
	})
	eventually(t, 10*time.Second, "Unhealthy and Killing events of never", func() (bool, error) {
		unhealthy, killing := false, false
		var seen []string
		for _, e := range n.events("startup") {
			if !strings.Contains(e.InvolvedObject.FieldPath, "{never}") {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Message)
			unhealthy = unhealthy || (e.Reason == "Unhealthy" && e.Type == v1.EventTypeWarning && strings.HasPrefix(e.Message, "Startup probe failed: "))
			killing = killing || (e.Reason == "Killing" && e.Message == "Container never failed startup probe, will be restarted")
		}
		return unhealthy && killing, fmt.Errorf("events %q", seen)
	})
	pod = n.get("startup")
	if s := status(pod, "never"); s.Started != nil && *s.Started {
		t.Errorf("never: started %v", *s.Started)
	}

	// The slow container's liveness probe never ran before it started:
	// it was not restarted, and no liveness probe failed.
	if s := status(pod, "slow"); s.RestartCount != 0 {
		t.Errorf("slow restarted %d times: its liveness probe ran before its startup probe succeeded", s.RestartCount)
	}
	for _, e := range n.events("startup") {
		if strings.Contains(e.InvolvedObject.FieldPath, "{slow}") && strings.HasPrefix(e.Message, "Liveness probe failed") {
			t.Errorf("slow: %s %s", e.Reason, e.Message)
		}
	}
}
