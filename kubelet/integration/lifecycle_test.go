package integration

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestLifecycleHooks runs postStart and preStop hooks of each kind in
// real pods: their effects are seen in the containers, on a hostPath and
// by an HTTP server of the test's, and failing hooks give upstream's
// events.
func TestLifecycleHooks(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	hostDir := t.TempDir()
	hostVol := v1.Volume{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir}}}
	hostMount := v1.VolumeMount{Name: "host", MountPath: "/host"}

	// The HTTP hooks go to the test (the kubelet runs on the host, so
	// 127.0.0.1 is the test's).
	var mu sync.Mutex
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.URL.Path+" "+r.Header.Get("User-Agent")+" "+r.Header.Get("X-Hook"))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	httpHook := func(path string) *v1.LifecycleHandler {
		return &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{
			Host: "127.0.0.1", Port: intstr.FromInt32(int32(port)), Path: path,
			HTTPHeaders: []v1.HTTPHeader{{Name: "X-Hook", Value: "yes"}},
		}}
	}
	hit := func(path string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hits {
			if strings.HasPrefix(h, path+" kube-lifecycle/") && strings.HasSuffix(h, " yes") {
				return true
			}
		}
		return false
	}

	// postStart exec writes a file the container's command waits for.
	ps := sh("c", "until [ -f /tmp/hook ]; do sleep 0.1; done; cat /tmp/hook; exec sleep 3600")
	ps.Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "echo from-poststart > /tmp/hook"}}}}
	n.create(n.pod("poststart", ps))

	// While postStart runs, the container is not reported running.
	slow := sh("c", "exec sleep 3600")
	slow.VolumeMounts = []v1.VolumeMount{hostMount}
	slow.Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "touch /host/hook-start; sleep 3; touch /host/hook-end"}}}}
	slowp := n.pod("poststart-slow", slow)
	slowp.Spec.Volumes = []v1.Volume{hostVol}
	n.create(slowp)

	// A failing postStart: FailedPostStartHook, the container killed
	// and restarted.
	bad := sh("c", "exec sleep 3600")
	bad.Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "echo oops; exit 1"}}}}
	n.create(n.pod("poststart-fails", bad))

	// HTTP hooks both ways.
	hh := sh("c", "exec sleep 3600")
	hh.Lifecycle = &v1.Lifecycle{PostStart: httpHook("/poststart"), PreStop: httpHook("/prestop")}
	n.create(n.pod("http-hooks", hh))

	// preStop exec writes to the hostPath before the container goes.
	pe := sh("c", "exec sleep 3600")
	pe.VolumeMounts = []v1.VolumeMount{hostMount}
	pe.Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "echo from-prestop > /host/prestop"}}}}
	pep := n.pod("prestop", pe)
	pep.Spec.Volumes = []v1.Volume{hostVol}
	n.create(pep)

	// A failing preStop: FailedPreStopHook, and the pod still goes.
	pf := sh("c", "exec sleep 3600")
	pf.Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "exit 7"}}}}
	n.create(n.pod("prestop-fails", pf))

	// preStop sleep: SIGTERM (which the container's trap records) comes
	// only after it.
	slp := sh("c", `trap 'date > /host/term; exit 0' TERM; while true; do sleep 0.1; done`)
	slp.VolumeMounts = []v1.VolumeMount{hostMount}
	slp.Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: 3}}}
	slpp := n.pod("prestop-sleep", slp)
	slpp.Spec.Volumes = []v1.Volume{hostVol}
	slpp.Spec.TerminationGracePeriodSeconds = ptrInt64(20)
	n.create(slpp)

	n.waitRunning("poststart")
	if out := n.waitLog("poststart", "c", "from-poststart\n"); out != "from-poststart\n" {
		t.Errorf("poststart log %q", out)
	}

	eventually(t, 60*time.Second, "the slow postStart hook started", func() (bool, error) {
		_, err := os.Stat(filepath.Join(hostDir, "hook-start"))
		return err == nil, err
	})
	// Whenever the status says running, the hook had ended before.
	for deadline := time.Now().Add(30 * time.Second); !exists(filepath.Join(hostDir, "hook-end")); {
		if time.Now().After(deadline) {
			t.Fatal("the slow postStart hook did not end")
		}
		p := n.get("poststart-slow")
		running := len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
		if running && !exists(filepath.Join(hostDir, "hook-end")) {
			t.Fatalf("running while its postStart hook runs: %s", statusSummary(p))
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.waitRunning("poststart-slow")

	n.waitPod("poststart-fails", 60*time.Second, "restarted", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	eventually(t, 10*time.Second, "FailedPostStartHook and Killing events", func() (bool, error) {
		failed, killing := false, false
		for _, e := range n.events("poststart-fails") {
			failed = failed || (e.Reason == "FailedPostStartHook" && e.Message == "PostStartHook failed" && e.Type == v1.EventTypeWarning)
			killing = killing || (e.Reason == "Killing" && e.Message == "FailedPostStartHook")
		}
		return failed && killing, nil
	})

	n.waitRunning("http-hooks")
	eventually(t, 10*time.Second, "HTTP postStart hook", func() (bool, error) { return hit("/poststart"), nil })
	if hit("/prestop") {
		t.Errorf("preStop hook ran before deletion")
	}

	for _, name := range []string{"prestop", "prestop-fails", "prestop-sleep"} {
		n.waitRunning(name)
	}
	deleted := time.Now()
	for _, name := range []string{"http-hooks", "prestop", "prestop-fails", "prestop-sleep"} {
		if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"http-hooks", "prestop", "prestop-fails", "prestop-sleep"} {
		n.waitGone(name, 60*time.Second)
	}
	if !hit("/prestop") {
		t.Errorf("HTTP preStop hook did not run; hits %q", hits)
	}
	if b, err := os.ReadFile(filepath.Join(hostDir, "prestop")); err != nil || string(b) != "from-prestop\n" {
		t.Errorf("preStop exec wrote %q, %v", b, err)
	}
	if !hasEvent(n.events("prestop-fails"), "FailedPreStopHook") {
		t.Errorf("no FailedPreStopHook event: %v", n.events("prestop-fails"))
	}
	fi, err := os.Stat(filepath.Join(hostDir, "term"))
	if err != nil {
		t.Fatalf("the preStop sleep's container got no SIGTERM: %v", err)
	}
	if d := fi.ModTime().Sub(deleted); d < 3*time.Second-100*time.Millisecond {
		t.Errorf("SIGTERM came %s after the delete, before the 3s preStop sleep ended", d)
	}
}

// TestActiveDeadlineSeconds: a pod running longer than its
// activeDeadlineSeconds is killed and Failed, DeadlineExceeded.
func TestActiveDeadlineSeconds(t *testing.T) {
	n := startNode(t)
	p := n.pod("deadline", sh("c", "exec sleep 3600"))
	p.Spec.ActiveDeadlineSeconds = ptrInt64(3)
	n.create(p)
	n.waitRunning("deadline")
	p = n.waitPod("deadline", 30*time.Second, "Failed, DeadlineExceeded", func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodFailed
	})
	if p.Status.Reason != "DeadlineExceeded" || p.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("reason %q, message %q", p.Status.Reason, p.Status.Message)
	}
	if ran := p.Status.ContainerStatuses[0].State.Terminated; ran == nil || ran.FinishedAt.Sub(p.Status.StartTime.Time) < 3*time.Second-time.Second {
		t.Errorf("container not stopped at the deadline: %s (started %s)", statusSummary(p), p.Status.StartTime)
	}
	if !hasEvent(n.events("deadline"), "DeadlineExceeded") {
		t.Errorf("no DeadlineExceeded event")
	}
}

// TestTerminationMessages: what a container writes to its
// terminationMessagePath, or with FallbackToLogsOnError the tail of its
// log, is its terminated state's message.
func TestTerminationMessages(t *testing.T) {
	n := startNode(t)
	pods := map[string]string{}
	run := func(name string, c v1.Container, want string) {
		p := n.pod(name, c)
		p.Spec.RestartPolicy = v1.RestartPolicyNever
		n.create(p)
		pods[name] = want
	}
	run("bye", sh("c", "echo -n bye > /dev/termination-log; exit 3"), "bye")
	fb := sh("c", "echo first; echo last words; exit 2")
	fb.TerminationMessagePolicy = v1.TerminationMessageFallbackToLogsOnError
	run("fallback", fb, "first\nlast words\n")
	// The file wins over the log.
	fbf := sh("c", "echo -n from-file > /dev/termination-log; echo from-log; exit 2")
	fbf.TerminationMessagePolicy = v1.TerminationMessageFallbackToLogsOnError
	run("fallback-file", fbf, "from-file")
	custom := sh("c", "echo -n custom > /tmp/msg")
	custom.TerminationMessagePath = "/tmp/msg"
	run("custom-path", custom, "custom")
	// Any user may write the file.
	user := sh("c", "echo -n as-1000 > /dev/termination-log; exit 1")
	user.SecurityContext = &v1.SecurityContext{RunAsUser: ptrInt64(1000)}
	run("non-root", user, "as-1000")
	// Succeeded: no log fallback.
	ok := sh("c", "echo fine")
	ok.TerminationMessagePolicy = v1.TerminationMessageFallbackToLogsOnError
	run("succeeded", ok, "")

	for name, want := range pods {
		p := n.waitPod(name, 60*time.Second, "finished", func(p *v1.Pod) bool {
			return (p.Status.Phase == v1.PodFailed || p.Status.Phase == v1.PodSucceeded) &&
				len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Terminated != nil
		})
		if got := p.Status.ContainerStatuses[0].State.Terminated.Message; got != want {
			t.Errorf("%s: message %q, want %q (%s)", name, got, want, statusSummary(p))
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
