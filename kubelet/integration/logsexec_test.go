package integration

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/exec"
)

func TestLogsFollowAndPrevious(t *testing.T) {
	n := startNode(t)
	n.create(n.pod("ticker", sh("c", "for i in 1 2 3; do echo line $i; sleep 0.3; done; echo err >&2; exec sleep 3600")))
	n.waitRunning("ticker")
	// follow streams lines as they come.
	hc, _ := n.masterClient()
	resp, err := hc.Get(fmt.Sprintf("https://%s/containerLogs/%s/ticker/c?follow=true&timestamps=true", n.kubelet.Addr(), n.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	deadline := time.AfterFunc(20*time.Second, func() { resp.Body.Close() })
	for len(lines) < 4 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	deadline.Stop()
	if len(lines) < 4 || !strings.HasSuffix(lines[2], " line 3") || !strings.HasSuffix(lines[3], " err") {
		t.Fatalf("followed lines %q", lines)
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0]); err != nil {
		t.Errorf("timestamps: %v", err)
	}
	if got := n.logs("ticker", "c", "tailLines=2"); got != "line 3\nerr\n" {
		t.Errorf("tailLines=2: %q", got)
	}
	if got := n.logs("ticker", "c", "limitBytes=4"); got != "line" {
		t.Errorf("limitBytes=4: %q", got)
	}
	if got := n.logs("ticker", "c", "sinceTime="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); got != "" {
		t.Errorf("sinceTime in the future: %q", got)
	}

	// previous: the log of the attempt before a restart.
	n.create(n.pod("restarts", sh("c", "if [ -f /dev/shm/once ]; then echo second; exec sleep 3600; fi; touch /dev/shm/once; echo first; exit 1")))
	n.waitPod("restarts", 60*time.Second, "restarted and running", func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	if got := n.logs("restarts", "c", "previous=true"); got != "first\n" {
		t.Errorf("previous: %q", got)
	}
	n.waitLog("restarts", "c", "second")
}

func TestExecStreamsAndExitCode(t *testing.T) {
	n := startNode(t)
	n.create(n.pod("shell", sh("c", "exec sleep 3600")))
	n.waitRunning("shell")

	r := n.exec("shell", "c", "", false, "sh", "-c", "echo out; echo err >&2; exit 7")
	if r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if ce, ok := r.err.(exec.CodeExitError); !ok || ce.Code != 7 {
		t.Errorf("want exit code 7, got %v (%T)", r.err, r.err)
	}

	r = n.exec("shell", "c", "hello from stdin\n", false, "cat")
	if r.err != nil || r.stdout != "hello from stdin\n" {
		t.Errorf("cat: %q, %v", r.stdout, r.err)
	}

	r = n.exec("shell", "c", "", true, "sh", "-c", "tty; stty size")
	if r.err != nil || !strings.Contains(r.stdout, "/dev/pts/") {
		t.Errorf("tty: %q, %v", r.stdout, r.err)
	}

	// Only who the apiserver authorizes may call: no credential is 401, a
	// user without nodes/proxy 403.
	resp, err := (&http.Client{Transport: insecureTransport()}).Get("https://" + n.kubelet.Addr() + "/pods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous /pods: %d", resp.StatusCode)
	}
	hc, _ := n.apiClient("someone", "developers")
	resp, err = hc.Get("https://" + n.kubelet.Addr() + "/containerLogs/default/shell/c")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("developer logs: %d", resp.StatusCode)
	}
	// /healthz too, as Kubernetes' kubelet (nodes/healthz or nodes/proxy).
	resp, err = (&http.Client{Transport: insecureTransport()}).Get("https://" + n.kubelet.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous healthz: %d", resp.StatusCode)
	}
	hc, _ = n.masterClient()
	resp, err = hc.Get("https://" + n.kubelet.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the apiserver's healthz: %d", resp.StatusCode)
	}
}
