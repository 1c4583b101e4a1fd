package integration

import (
	"context"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"coracle.dev/kubelet"
)

func TestPodRunsAndIsDeleted(t *testing.T) {
	n := startNode(t)
	n.create(n.pod("web", sh("c", "echo hello; exec sleep 3600")))
	p := n.waitRunning("web")
	if p.Status.PodIP == "" || !n.cidr.Contains(parseIP(p.Status.PodIP)) {
		t.Fatalf("pod IP %q not in %s", p.Status.PodIP, n.cidr)
	}
	if p.Status.HostIP != "127.0.0.1" || p.Status.StartTime == nil {
		t.Errorf("hostIP %q startTime %v", p.Status.HostIP, p.Status.StartTime)
	}
	cs := p.Status.ContainerStatuses[0]
	if !strings.HasPrefix(cs.ContainerID, "runc://") || !strings.Contains(cs.ImageID, "@sha256:") || cs.State.Running == nil {
		t.Fatalf("container status %+v", cs)
	}
	conds := map[v1.PodConditionType]v1.ConditionStatus{}
	for _, c := range p.Status.Conditions {
		conds[c.Type] = c.Status
	}
	for _, c := range []v1.PodConditionType{v1.PodScheduled, v1.PodInitialized, v1.ContainersReady, v1.PodReady} {
		if conds[c] != v1.ConditionTrue {
			t.Errorf("condition %s = %s", c, conds[c])
		}
	}
	evs := n.events("web")
	for _, r := range []string{"Pulling", "Pulled", "Created", "Started"} {
		if !hasEvent(evs, r) {
			t.Errorf("no %s event", r)
		}
	}
	n.waitLog("web", "c", "hello")
	start := time.Now()
	if err := n.client.CoreV1().Pods(n.ns).Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitGone("web", 20*time.Second)
	// sleep as PID 1 ignores SIGTERM: killed after the 2 s grace period.
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("pod gone after %v, before its grace period", d)
	}
	if !hasEvent(n.events("web"), "Killing") {
		t.Error("no Killing event")
	}
}

func TestTwoContainersShareNetworkIPCAndUTS(t *testing.T) {
	n := startNode(t)
	n.create(n.pod("duo",
		sh("server", "mkdir -p /www && echo from-server > /www/index.html && echo shm > /dev/shm/marker && exec httpd -f -p 8080 -h /www"),
		sh("client", "until wget -q -O /tmp/out http://localhost:8080/; do sleep 0.2; done; cat /tmp/out; hostname; until cat /dev/shm/marker; do sleep 0.2; done; exec sleep 3600"),
	))
	n.waitRunning("duo")
	out := n.waitLog("duo", "client", "shm")
	if !strings.Contains(out, "from-server") || !strings.Contains(out, "duo\n") {
		t.Fatalf("client log: %q (want the server's page over localhost and hostname duo)", out)
	}
}

func TestEnvFromConfigMapSecretAndDownwardAPI(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	if _, err := n.client.CoreV1().ConfigMaps(n.ns).Create(ctx, &v1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"color": "blue", "size": "xl"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.CoreV1().Secrets(n.ns).Create(ctx, &v1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Data: map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := sh("c", "env | sort; echo done")
	c.WorkingDir = "/tmp"
	c.Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi"), v1.ResourceCPU: resource.MustParse("500m")}
	field := func(p string) *v1.EnvVarSource {
		return &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: p}}
	}
	c.Env = []v1.EnvVar{
		{Name: "COLOR", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
		{Name: "PASSWORD", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
		{Name: "POD_NAME", ValueFrom: field("metadata.name")},
		{Name: "POD_NS", ValueFrom: field("metadata.namespace")},
		{Name: "POD_UID", ValueFrom: field("metadata.uid")},
		{Name: "POD_LABEL", ValueFrom: field("metadata.labels['app']")},
		{Name: "POD_ANNOTATION", ValueFrom: field("metadata.annotations['note']")},
		{Name: "NODE", ValueFrom: field("spec.nodeName")},
		{Name: "POD_IP", ValueFrom: field("status.podIP")},
		{Name: "HOST_IP", ValueFrom: field("status.hostIP")},
		{Name: "MEM_LIMIT_MI", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "CPU_LIMIT_M", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
		{Name: "GREETING", Value: "hello-$(POD_NAME)"},
	}
	c.EnvFrom = []v1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}}
	p := n.pod("envy", c)
	p.Labels = map[string]string{"app": "demo"}
	p.Annotations = map[string]string{"note": "hi"}
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	created := n.create(p)
	done := n.waitPod("envy", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	out := n.waitLog("envy", "c", "done")
	for _, want := range []string{
		"COLOR=blue", "PASSWORD=s3cret", "POD_NAME=envy", "POD_NS=default", "POD_UID=" + string(created.UID),
		"POD_LABEL=demo", "POD_ANNOTATION=hi", "NODE=" + n.name, "POD_IP=" + done.Status.PodIP, "HOST_IP=127.0.0.1",
		"MEM_LIMIT_MI=64", "CPU_LIMIT_M=500", "GREETING=hello-envy", "CM_color=blue", "CM_size=xl", "PWD=/tmp", "HOSTNAME=envy",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("env lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("env:\n%s", out)
	}

	// A missing ConfigMap is CreateContainerConfigError.
	bad := sh("c", "true")
	bad.Env = []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "missing"}, Key: "k"}}}}
	n.create(n.pod("bad-env", bad))
	n.waitPod("bad-env", 30*time.Second, "CreateContainerConfigError", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "CreateContainerConfigError"
	})
}

func TestSecurityContext(t *testing.T) {
	n := startNode(t)
	c := sh("c", "id -u; id -g; touch /x 2>/dev/null && echo writable || echo read-only; echo done")
	c.SecurityContext = &v1.SecurityContext{RunAsUser: ptrInt64(1234), RunAsGroup: ptrInt64(5678), ReadOnlyRootFilesystem: ptrBool(true)}
	p := n.pod("secure", c)
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(p)
	n.waitPod("secure", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	out := n.waitLog("secure", "c", "done")
	if !strings.Contains(out, "1234\n5678\nread-only\n") {
		t.Fatalf("log %q: want uid 1234, gid 5678, read-only root", out)
	}
}

func ptrBool(b bool) *bool { return &b }

func TestRestartPolicies(t *testing.T) {
	n := startNode(t)
	never := n.pod("never-fails", sh("c", "echo bye; exit 3"))
	never.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(never)
	ok := n.pod("never-ok", sh("c", "exit 0"))
	ok.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(ok)
	onFailure := n.pod("on-failure", sh("c", "if [ -f /tmp/ran ]; then exit 0; fi; touch /tmp/ran; exit 1"))
	onFailure.Spec.RestartPolicy = v1.RestartPolicyOnFailure
	n.create(onFailure)
	onFailureFS := n.pod("on-failure-twice", sh("c", "exit 2"))
	onFailureFS.Spec.RestartPolicy = v1.RestartPolicyOnFailure
	n.create(onFailureFS)

	p := n.waitPod("never-fails", 60*time.Second, "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.ExitCode != 3 || term.Reason != "Error" || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("never-fails: %s", statusSummary(p))
	}
	p = n.waitPod("never-ok", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" {
		t.Errorf("never-ok: %s", statusSummary(p))
	}
	// The overlay root file system is kept across restarts? No: each
	// attempt gets a fresh one, so on-failure fails every time.
	p = n.waitPod("on-failure-twice", 60*time.Second, "restarted", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
			p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil
	})
	if lt := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt.ExitCode != 2 {
		t.Errorf("on-failure-twice last state: %+v", lt)
	}
	if p.Status.Phase == v1.PodFailed || p.Status.Phase == v1.PodSucceeded {
		t.Errorf("on-failure-twice is %s; OnFailure keeps restarting", p.Status.Phase)
	}
	// The log of the previous attempt is kept.
	if got := n.logs("never-fails", "c", ""); got != "bye\n" {
		t.Errorf("never-fails log %q", got)
	}
	p = n.waitPod("on-failure", 60*time.Second, "restarted", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	_ = p
}

func TestOOMKilled(t *testing.T) {
	n := startNode(t)
	c := sh("c", "head -c 200m /dev/zero | tail")
	c.Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("20Mi")}
	p := n.pod("hog", c)
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(p)
	p = n.waitPod("hog", 60*time.Second, "Failed", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Fatalf("want OOMKilled exit 137: %s", statusSummary(p))
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	n := startNode(t)
	n.create(n.pod("crash", sh("c", "echo attempt; exit 1")))
	p := n.waitPod("crash", 30*time.Second, "CrashLoopBackOff", func(p *v1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	cs := p.Status.ContainerStatuses[0]
	if !strings.Contains(cs.State.Waiting.Message, "back-off 10s restarting failed container=c") || cs.LastTerminationState.Terminated == nil {
		t.Fatalf("waiting %+v last %+v", cs.State.Waiting, cs.LastTerminationState)
	}
	restarts := cs.RestartCount
	firstBackoff := time.Now()
	// The next run comes about 10 s after the crash, then 20 s.
	p = n.waitPod("crash", 30*time.Second, "another restart", func(p *v1.Pod) bool {
		return p.Status.ContainerStatuses[0].RestartCount > restarts
	})
	if d := time.Since(firstBackoff); d < 7*time.Second {
		t.Errorf("restarted %v after entering back-off; want about 10s", d)
	}
	p = n.waitPod("crash", 30*time.Second, "back-off 20s", func(p *v1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && strings.Contains(w.Message, "back-off 20s")
	})
	if !hasEvent(n.events("crash"), "BackOff") {
		t.Error("no BackOff event")
	}
	if got := n.logs("crash", "c", "previous=true"); got != "attempt\n" {
		t.Errorf("previous log %q", got)
	}
}

func TestGracefulTermination(t *testing.T) {
	n := startNode(t)
	polite := n.pod("polite", sh("c", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done"))
	polite.Spec.TerminationGracePeriodSeconds = ptrInt64(10)
	n.create(polite)
	stubborn := n.pod("stubborn", sh("c", "trap '' TERM; while true; do sleep 0.1; done"))
	stubborn.Spec.TerminationGracePeriodSeconds = ptrInt64(3)
	n.create(stubborn)
	n.waitRunning("polite")
	n.waitRunning("stubborn")
	ctx := context.Background()

	start := time.Now()
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, "polite", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitGone("polite", 15*time.Second)
	// Well before its 10 s grace period (some slack for a loaded machine).
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("a pod that exits on SIGTERM took %v to go", d)
	}

	start = time.Now()
	if err := n.client.CoreV1().Pods(n.ns).Delete(ctx, "stubborn", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitGone("stubborn", 20*time.Second)
	if d := time.Since(start); d < 3*time.Second || d > 12*time.Second {
		t.Errorf("a pod that ignores SIGTERM went after %v; want its 3s grace period, then SIGKILL", d)
	}
}

func TestHostPortAndPodToPod(t *testing.T) {
	n := startNode(t)
	port := int32(20000 + mathrand.IntN(9000))
	web := n.pod("web", sh("c", "mkdir -p /www && echo hello-hostport > /www/index.html && exec httpd -f -p 80 -h /www"))
	web.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 80, HostPort: port, Protocol: v1.ProtocolTCP}}
	n.create(web)
	p := n.waitRunning("web")

	var body string
	eventually(t, 20*time.Second, "hostPort reachable from the host", func() (bool, error) {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, "hello-hostport"), nil
	})

	n.create(n.pod("client", sh("c", fmt.Sprintf("until wget -q -O - http://%s/; do sleep 0.3; done; exec sleep 3600", p.Status.PodIP))))
	n.waitRunning("client")
	n.waitLog("client", "c", "hello-hostport")
}

func TestHostNetworkPod(t *testing.T) {
	n := startNode(t)
	p := n.pod("on-host", sh("c", "cat /proc/net/dev; hostname; echo done; exec sleep 3600"))
	p.Spec.HostNetwork = true
	n.create(p)
	got := n.waitRunning("on-host")
	if got.Status.PodIP != "127.0.0.1" {
		t.Errorf("pod IP %q, want the node's 127.0.0.1", got.Status.PodIP)
	}
	out := n.waitLog("on-host", "c", "done")
	// The node's interfaces, and its host name.
	host, _ := os.Hostname()
	if iface := defaultRouteInterface(); iface == "" || !strings.Contains(out, iface+":") {
		t.Errorf("the node's interface %q not seen: %q", iface, out)
	}
	if !strings.Contains(out, host+"\n") {
		t.Errorf("host name is not %s: %q", host, out)
	}
}

// defaultRouteInterface names the interface of the node's default route.
func defaultRouteInterface() string {
	b, _ := os.ReadFile("/proc/net/route")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "00000000" {
			return f[0]
		}
	}
	return ""
}

func TestCgroupLimitsAndImageCommand(t *testing.T) {
	n := startNode(t, func(o *kubelet.Options) { o.PodPidsLimit = 64 })
	c := sh("c", "exec sleep 3600")
	c.Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("16Mi")}
	c.Resources.Limits = v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m"), v1.ResourceMemory: resource.MustParse("32Mi")}
	created := n.create(n.pod("limited", c))
	n.waitRunning("limited")
	// The container's own cgroup, under the pod's, under the cgroup root.
	dir := func(controller string) string {
		return filepath.Join("/sys/fs/cgroup", controller, n.opts.CgroupRoot, "pod"+string(created.UID), "c-0")
	}
	read := func(controller, file string) string {
		b, err := os.ReadFile(filepath.Join(dir(controller), file))
		if err != nil {
			t.Fatalf("cgroup: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, tt := range []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", "33554432"},
		{"cpu", "cpu.shares", "256"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"pids", "pids.max", "64"},
	} {
		if got := read(tt.controller, tt.file); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.file, got, tt.want)
		}
	}

	// No command, no args: the image's command (sh, which ends at once
	// on an empty stdin).
	plain := n.pod("image-cmd", v1.Container{Name: "c"})
	plain.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(plain)
	p := n.waitPod("image-cmd", 60*time.Second, "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 {
		t.Errorf("image command: %s", statusSummary(p))
	}
}

// A privileged container runs with every capability the node may grant
// (as containerd's), and an ordinary one with the default set only: on a
// host whose bounding set lacks one (CAP_SYS_RESOURCE in some VMs), asking
// runc for all of them failed every privileged pod ("unable to apply caps").
func TestPrivilegedContainer(t *testing.T) {
	n := startNode(t)
	priv := sh("c", "grep CapEff /proc/self/status")
	priv.SecurityContext = &v1.SecurityContext{Privileged: ptrBool(true)}
	p := n.pod("privileged", priv)
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(p)
	plain := n.pod("plain", sh("c", "grep CapEff /proc/self/status"))
	plain.Spec.RestartPolicy = v1.RestartPolicyNever
	n.create(plain)
	for _, name := range []string{"privileged", "plain"} {
		got := n.waitPod(name, 60*time.Second, "Succeeded", func(p *v1.Pod) bool {
			return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
		})
		if got.Status.Phase != v1.PodSucceeded {
			t.Fatalf("%s: %s", name, statusSummary(got))
		}
	}
	capEff := func(pod string) uint64 {
		out := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(n.logs(pod, "c", "")), "CapEff:"))
		v, err := strconv.ParseUint(out, 16, 64)
		if err != nil {
			t.Fatalf("%s: CapEff %q: %v", pod, out, err)
		}
		return v
	}
	const sysAdmin = 1 << 21
	if priv, plain := capEff("privileged"), capEff("plain"); priv&sysAdmin == 0 || plain&sysAdmin != 0 || priv&plain != plain {
		t.Fatalf("privileged CapEff %x, plain %x: want CAP_SYS_ADMIN only in the privileged one, a superset", priv, plain)
	}
}
