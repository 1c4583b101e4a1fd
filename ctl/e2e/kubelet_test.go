package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// busyboxImage is the image the kubelet tests run: "busybox", which the
// kubelet pulls from the test's local registry (its docker.io mirror),
// unless CORACLE_BUSYBOX_IMAGE names another.
func busyboxImage() string {
	if img := os.Getenv("CORACLE_BUSYBOX_IMAGE"); img != "" {
		return img
	}
	return "busybox"
}

// startNode runs what pods need besides the apiserver, as real
// processes: the scheduler, the controller manager, a local registry with
// busybox (docker.io's mirror, so "busybox" resolves there) and a kubelet
// with the runc runtime on its own bridge, pod CIDR and cgroup root. When
// the test ends the kubelet is stopped and its --teardown removes every
// container, namespace, cgroup and rule it made.
func startNode(t *testing.T, c *cluster) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the kubelet runs real containers: run the tests as root (make test)")
	}
	startComponent(t, c, "scheduler")
	// No node IPAM: the kubelet keeps the free --pod-cidr picked below.
	startComponent(t, c, "controller-manager", "--cluster-cidr=")
	registry := startRegistry(t)

	suffix := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	root := t.TempDir()
	flags := []string{
		"--kubeconfig", c.ts.Kubeconfig, "--node-name", "e2e-" + suffix, "--root-dir", filepath.Join(root, "kubelet"), "--eviction-hard", testbin.KubeletEvictionHard,
		"--node-ip", "127.0.0.1", "--pod-cidr", testnet.FreePodCIDR(t, testnet.CtlE2E).String(), "--port", "0",
		"--cni-conf-dir", filepath.Join(root, "cni"), "--bridge-name", "ce" + suffix, "--network-name", "ctl-e2e-" + suffix,
		"--cgroup-root", "/coracle-e2e-" + suffix, "--pod-log-dir", filepath.Join(root, "logs"),
		"--registry-mirror", "docker.io=" + registry, "--log-format", "console",
	}
	bin := testbin.Path(t, "kubelet")
	t.Cleanup(func() {
		out, err := exec.Command(bin, append(flags, "--teardown", "--log-level", "warn")...).CombinedOutput()
		if err != nil {
			t.Errorf("kubelet --teardown: %v\n%s", err, out)
		}
	})
	status := testnet.FreeAddr(t)
	p := testproc.Start(t, "kubelet", bin, append(flags, "--status-address", status)...)
	p.WaitReady(t, 20*time.Second, testproc.Readyz(status))
}

// startRegistry runs bin/local-registry (busybox in it) on a free
// loopback port and returns its address once it serves.
func startRegistry(t *testing.T) string {
	t.Helper()
	addr := testnet.FreeAddr(t)
	p := testproc.Start(t, "local-registry", testbin.Path(t, "local-registry"), "--address", addr, "--log-format", "console")
	p.WaitReady(t, 20*time.Second, func() (bool, string) {
		resp, err := http.Get("http://" + addr + "/v2/library/busybox/manifests/latest")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return addr
}

// waitRunning waits until a pod runs.
func waitRunning(t *testing.T, c *cluster, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		p, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s not running within 2m", ns, name)
}

// TestLogsAndExecWithKubelet drives logs and exec (and their parity with
// kubectl) against pods a real kubelet runs.
func TestLogsAndExecWithKubelet(t *testing.T) {
	c := startCluster(t)
	startNode(t, c)
	k, kc := ctl(t, c), kubectl(t, c)
	ns := c.namespace(t)
	img := busyboxImage()

	k.says(t, "pod/talker created", "-n", ns, "run", "talker", "--image="+img, "--restart=Never", "--command", "--",
		"sh", "-c", "echo one; echo two; echo three; sleep 3600")
	waitRunning(t, c, ns, "talker")

	t.Run("logs prints, tails and follows", func(t *testing.T) {
		eventually(t, "three lines", func() bool { return k.ok(t, "-n", ns, "logs", "talker") == "one\ntwo\nthree\n" })
		k.says(t, "three", "-n", ns, "logs", "talker", "--tail=1")
		ts := k.ok(t, "-n", ns, "logs", "talker", "--timestamps", "--tail=1")
		if _, err := time.Parse(time.RFC3339Nano, strings.Fields(ts)[0]); err != nil {
			t.Fatalf("--timestamps: %q", ts)
		}
		k.says(t, "one\ntwo\nthree", "-n", ns, "logs", "talker", "--since=1h")
		k.says(t, "one\ntwo\nthree", "-n", ns, "logs", "pod/talker", "-c", "talker", "--all-containers")
		out, _ := k.background(t, "-n", ns, "logs", "-f", "talker")
		eventually(t, "followed logs", func() bool { return strings.Contains(out.String(), "three") })
		k.fails(t, `Error from server (NotFound): pods "nope" not found`, "-n", ns, "logs", "nope")
		if a, b := k.run(t, "-n", ns, "logs", "talker"), kc.run(t, "-n", ns, "logs", "talker"); a.stdout != b.stdout || a.code != b.code {
			t.Fatalf("logs parity:\nctl: %s\nkubectl: %s", a, b)
		}
	})

	t.Run("logs of a deployment and of the previous container", func(t *testing.T) {
		k.ok(t, "-n", ns, "create", "deployment", "web", "--image="+img, "--", "sh", "-c", "echo from-deploy; sleep 3600")
		eventually(t, "the deployment's logs", func() bool {
			r := k.run(t, "-n", ns, "logs", "deploy/web")
			return r.code == 0 && strings.Contains(r.stdout, "from-deploy")
		})
		k.ok(t, "-n", ns, "run", "crasher", "--image="+img, "--restart=Always", "--command", "--", "sh", "-c", "echo crashed; exit 3")
		eventually(t, "a restarted container's previous logs", func() bool {
			r := k.run(t, "-n", ns, "logs", "crasher", "--previous")
			return r.code == 0 && strings.Contains(r.stdout, "crashed")
		})
		k.ok(t, "-n", ns, "describe", "pod", "crasher")
	})

	t.Run("exec runs commands and returns their exit code", func(t *testing.T) {
		k.says(t, "hello", "-n", ns, "exec", "talker", "--", "echo", "hello")
		r := k.run(t, "-n", ns, "exec", "talker", "--", "sh", "-c", "exit 7")
		if r.code != 7 || !strings.Contains(r.stderr, "command terminated with exit code 7") {
			t.Fatalf("exit code: %s", r)
		}
		r = k.runIn(t, "from stdin\n", "-n", ns, "exec", "-i", "talker", "--", "cat")
		if r.code != 0 || r.stdout != "from stdin\n" {
			t.Fatalf("exec -i: %s", r)
		}
		for _, args := range [][]string{{"exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 2"}, {"exec", "talker", "--", "true"}} {
			a, b := k.run(t, append([]string{"-n", ns}, args...)...), kc.run(t, append([]string{"-n", ns}, args...)...)
			if a.stdout != b.stdout || a.code != b.code {
				t.Fatalf("exec parity %v:\nctl: %s\nkubectl: %s", args, a, b)
			}
		}
		k.says(t, "/", "-n", ns, "exec", "deploy/web", "--", "pwd")
	})

	t.Run("exec -t runs in a terminal", func(t *testing.T) {
		// script(1) gives ctl a real terminal of 40 rows and 100 columns;
		// the remote side must see a tty of that size.
		line := "stty rows 40 cols 100; " + testbin.Path(t, "ctl") + " -n " + ns + " exec -it talker -- sh -c 'tty; stty size'"
		r := newCLI(t, c, "/usr/bin/script").run(t, "-qec", line, "/dev/null")
		if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/") || !strings.Contains(r.stdout, "40 100") {
			t.Fatalf("exec -it: %s", r)
		}
	})
}
