package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// TestLogsAndExecThroughAPIServer drives pods/log and pods/exec with
// client-go, as kubectl does: the apiserver proxies to this kubelet.
func TestLogsAndExecThroughAPIServer(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n.create(n.pod("talker", sh("c", "if [ -f /dev/shm/again ]; then echo second-run; else touch /dev/shm/again; echo first-run; exit 1; fi; for i in 1 2 3; do echo tick $i; sleep 0.3; done; exec sleep 3600")))
	n.waitPod("talker", 60*time.Second, "running after one restart", func(p *v1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil
	})

	// Follow.
	stream, err := n.client.CoreV1().Pods(n.ns).GetLogs("talker", &v1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatalf("follow logs: %v", err)
	}
	sc := bufio.NewScanner(stream)
	var lines []string
	for len(lines) < 4 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	stream.Close()
	if strings.Join(lines, "|") != "second-run|tick 1|tick 2|tick 3" {
		t.Errorf("followed %q", lines)
	}
	// Previous.
	b, err := n.client.CoreV1().Pods(n.ns).GetLogs("talker", &v1.PodLogOptions{Previous: true}).DoRaw(ctx)
	if err != nil || string(b) != "first-run\n" {
		t.Errorf("previous logs %q, %v", b, err)
	}

	// Exec: stdin, stdout, stderr and the exit code.
	req := n.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(n.ns).Name("talker").SubResource("exec").
		VersionedParams(&v1.PodExecOptions{Container: "c", Command: []string{"sh", "-c", "cat; echo to-stderr >&2; exit 42"}, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewWebSocketExecutor(n.ts.Config, "GET", req.URL().String())
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("via-stdin\n"), Stdout: &out, Stderr: &errOut})
	var code utilexec.CodeExitError
	if !errors.As(err, &code) || code.Code != 42 {
		t.Errorf("exit: %v (%T), want code 42", err, err)
	}
	if out.String() != "via-stdin\n" || errOut.String() != "to-stderr\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

// TestKubectlLogsAndExec uses the real kubectl against the apiserver.
func TestKubectlLogsAndExec(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl not found: the compatibility tests need the real kubectl in PATH")
	}
	n := startNode(t)
	n.create(n.pod("kc", sh("c", "echo hello-kubectl; exec sleep 3600")))
	n.waitRunning("kc")
	n.waitLog("kc", "c", "hello-kubectl")
	run := func(stdin string, args ...string) (string, int) {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", n.ts.Kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}
	if out, code := run("", "logs", "kc"); code != 0 || out != "hello-kubectl\n" {
		t.Errorf("kubectl logs: %d %q", code, out)
	}
	if out, code := run("", "exec", "kc", "--", "sh", "-c", "echo in-pod; exit 3"); code != 3 || !strings.Contains(out, "in-pod") {
		t.Errorf("kubectl exec: %d %q", code, out)
	}
	if out, code := run("piped\n", "exec", "-i", "kc", "--", "cat"); code != 0 || out != "piped\n" {
		t.Errorf("kubectl exec -i: %d %q", code, out)
	}
	// exec -it: a terminal (script gives kubectl one), its size, the exit
	// code.
	if script, err := exec.LookPath("script"); err == nil {
		cmd := exec.Command(script, "-qec", kubectl+" --kubeconfig "+n.ts.Kubeconfig+" exec -it kc -- sh -c 'tty; exit 5'", "/dev/null")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 5 || !strings.Contains(out.String(), "/dev/pts/") {
			t.Errorf("kubectl exec -it: %v %q", err, out.String())
		}
	} else {
		t.Errorf("script (bsdutils) not found: cannot give kubectl exec -it a terminal")
	}
	// -f stops when the context ends; read the first line and stop.
	cmd := exec.Command(kubectl, "--kubeconfig", n.ts.Kubeconfig, "logs", "-f", "kc")
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(pipe).ReadString('\n')
	_ = cmd.Process.Kill()
	_, _ = io.Copy(io.Discard, pipe)
	_ = cmd.Wait()
	if line != "hello-kubectl\n" {
		t.Errorf("kubectl logs -f: %q", line)
	}
}
