package integration

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"

	"coracle.dev/shared/testproc"
)

// waitOutput polls what a client has printed until it contains want.
func waitOutput(t *testing.T, what string, out fmt.Stringer, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q in 60s; output: %q", what, want, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kubectlProcess runs the real kubectl against the test's apiserver,
// its output in out; it is killed when the test ends.
func (n *node) kubectlProcess(kubectl string, stdin io.Reader, args ...string) (*exec.Cmd, *testproc.Buffer, <-chan error) {
	n.t.Helper()
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", n.ts.Kubeconfig, "-n", n.ns}, args...)...)
	out := &testproc.Buffer{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, out, out
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		done <- cmd.Wait()
		close(ended)
	}()
	n.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-ended
	})
	return cmd, out, done
}

// TestKubectlAttach attaches the real kubectl, through the apiserver, to
// containers' first processes: output as it comes, input to stdin (kept
// open across clients, or closed after the first with stdinOnce), and
// `kubectl run -i --rm`.
func TestKubectlAttach(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: the compatibility tests need the real kubectl in PATH")
	}
	n := startNode(t)
	echo := sh("c", `while read l; do echo "got $l"; done`)
	echo.Stdin = true
	n.create(n.pod("echo", echo))
	ticker := sh("c", `i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done`)
	n.create(n.pod("ticker", ticker))
	once := sh("c", `cat; echo "stdin closed"; exec sleep 3600`)
	once.Stdin, once.StdinOnce = true, true
	n.create(n.pod("once", once))
	for _, p := range []string{"echo", "ticker", "once"} {
		n.waitRunning(p)
	}

	// Output only: what the process prints from now on.
	_, out, _ := n.kubectlProcess(kubectl, nil, "attach", "ticker")
	waitOutput(t, "kubectl attach ticker", out, "tick ")

	// Input: each line read by the container's shell is answered; the
	// input ending (kubectl's stdin closed) leaves stdin open for the
	// next client, since the container is not stdinOnce.
	for _, word := range []string{"hello", "again"} {
		inR, inW := io.Pipe()
		cmd, out, _ := n.kubectlProcess(kubectl, inR, "attach", "-i", "echo")
		if _, err := io.WriteString(inW, word+"\n"); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, "kubectl attach -i echo", out, "got "+word)
		inW.Close()
		_ = cmd.Process.Kill()
	}
	if p := n.get("echo"); p.Status.ContainerStatuses[0].State.Running == nil || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("echo after two clients: %+v", p.Status.ContainerStatuses[0])
	}

	// stdinOnce: the first client's end of input is the container's.
	inR, inW := io.Pipe()
	_, out, _ = n.kubectlProcess(kubectl, inR, "attach", "-i", "once")
	// The pipe hands kubectl the line once it reads its input, which it
	// does once attached.
	if _, err := io.WriteString(inW, "first\n"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, "kubectl attach -i once", out, "first")
	inW.Close()
	waitOutput(t, "kubectl attach -i once, input closed", out, "stdin closed")
	if logs := n.waitLog("once", "c", "stdin closed"); !strings.Contains(logs, "first") {
		t.Errorf("once's log: %q", logs)
	}

	// kubectl run -i --rm: the pod runs, its output comes back, and it
	// is deleted when its process ends. (No scheduler here: the pod
	// names the node.)
	_, out, done := n.kubectlProcess(kubectl, strings.NewReader("world\n"), "run", "runner", "-i", "--rm", "--restart=Never",
		"--image="+n.image, `--overrides={"spec":{"nodeName":"`+n.name+`"}}`, "--", "sh", "-c", `read l; echo "hello $l"`)
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "hello world") {
			t.Fatalf("kubectl run -i --rm: %v: %q", err, out.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("kubectl run -i --rm did not end in 120s: %q", out.String())
	}
	eventually(t, 60*time.Second, "runner deleted", func() (bool, error) {
		_, err := n.client.CoreV1().Pods(n.ns).Get(context.Background(), "runner", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestAttachTerminal attaches to a container running a shell on a
// terminal through the kubelet API, as `kubectl attach -it` does: the
// input is typed at the terminal, the terminal's size follows the
// client's, and the output (echo included) comes back.
func TestAttachTerminal(t *testing.T) {
	n := startNode(t)
	c := sh("c", "exec sh")
	c.Stdin, c.TTY = true, true
	n.create(n.pod("term", c))
	n.waitRunning("term")

	_, cfg := n.masterClient()
	q := url.Values{"input": {"1"}, "output": {"1"}, "tty": {"1"}}
	u := fmt.Sprintf("https://%s/attach/%s/term/c?%s", n.kubelet.Addr(), n.ns, q.Encode())
	ex, err := remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u, "v5.channel.k8s.io", "v4.channel.k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	out := &testproc.Buffer{}
	sizes := &fixedSize{size: remotecommand.TerminalSize{Width: 123, Height: 45}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: inR, Stdout: out, Tty: true, TerminalSizeQueue: sizes})
	}()
	// The shell answers once the attach is up: type until it does.
	for i := 0; !strings.Contains(out.String(), "size 45 123"); i++ {
		if i == 600 {
			t.Fatalf("no answer from the shell on the terminal: %q", out.String())
		}
		if i%20 == 0 {
			if _, err := io.WriteString(inW, "echo size $(stty size)\n"); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The terminal echoes what is typed, as a terminal does.
	if !strings.Contains(out.String(), "echo size $(stty size)") {
		t.Errorf("no echo of the input: %q", out.String())
	}
	// The shell exits: the attach ends and the container with it.
	if _, err := io.WriteString(inW, "exit 3\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the attach did not end with the shell")
	}
	n.waitPod("term", 60*time.Second, "shell exited 3", func(p *v1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && (cs[0].LastTerminationState.Terminated != nil && cs[0].LastTerminationState.Terminated.ExitCode == 3 ||
			cs[0].State.Terminated != nil && cs[0].State.Terminated.ExitCode == 3)
	})
}

// fixedSize is a terminal size queue giving one size, then none.
type fixedSize struct {
	once sync.Once
	size remotecommand.TerminalSize
	done chan struct{}
}

func (f *fixedSize) Next() *remotecommand.TerminalSize {
	first := false
	f.once.Do(func() { first = true; f.done = make(chan struct{}) })
	if first {
		return &f.size
	}
	<-f.done
	return nil
}

// TestKubectlDebug runs the real `kubectl debug -i --target`: an
// ephemeral container added to a running pod through the API, started
// in the target container's PID namespace, and attached — its `ps` shows
// the target's processes.
func TestKubectlDebug(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: the compatibility tests need the real kubectl in PATH")
	}
	n := startNode(t)
	n.create(n.pod("app", sh("app", "exec sleep 3601")))
	n.waitRunning("app")

	inR, inW := io.Pipe()
	_, out, done := n.kubectlProcess(kubectl, inR, "debug", "-i", "app", "--image="+n.image, "--target=app", "--container=debugger",
		"--", "sh", "-c", `read l; echo "input: $l"; ps`)
	// kubectl reads its input once attached.
	if _, err := io.WriteString(inW, "go\n"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, "kubectl debug", out, "input: go")
	waitOutput(t, "kubectl debug", out, "sleep 3601")
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("kubectl debug: %v: %q", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("kubectl debug did not end with its container: %q", out.String())
	}
	p := n.waitPod("app", 60*time.Second, "debugger exited", func(p *v1.Pod) bool {
		st := p.Status.EphemeralContainerStatuses
		return len(st) == 1 && st[0].Name == "debugger" && st[0].State.Terminated != nil
	})
	if st := p.Status.EphemeralContainerStatuses[0]; st.State.Terminated.ExitCode != 0 || st.ImageID == "" || st.ContainerID == "" {
		t.Errorf("debugger's status: %+v", st)
	}
	// The target runs on, and the ephemeral container is not restarted.
	if cs := p.Status.ContainerStatuses[0]; cs.State.Running == nil || cs.RestartCount != 0 {
		t.Errorf("target after the debug session: %+v", cs)
	}
}
