package main

import (
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
)

// corednsBin is the binary of this module, built by TestMain the way the
// image's is: CGO_ENABLED=0, a static executable.
var corednsBin string

// TestMain builds the coredns binary once for the package's tests, which
// run it as a process. Building it here rather than taking bin/coredns
// means the tests always run the code of this checkout, whether go test
// runs from the module or as `go test work` from the repository root;
// the go build cache keeps a rebuild to a link.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coredns-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	corednsBin = filepath.Join(dir, "coredns")
	build := exec.Command("go", "build", "-o", corednsBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build coredns: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestDirectives checks the chain order this binary declares against
// CoreDNS's own plugin.cfg order (dnsserver.Directives as generated, since
// tests do not run main), and that every directive has a plugin linked in.
func TestDirectives(t *testing.T) {
	upstream := dnsserver.Directives
	last := -1
	for _, d := range directives {
		i := slices.Index(upstream, d)
		if i < 0 {
			t.Errorf("directive %q is not in CoreDNS's plugin.cfg", d)
			continue
		}
		if i < last {
			t.Errorf("directive %q is out of plugin.cfg's order: it comes before %q there", d, upstream[last])
		}
		last = max(last, i)
	}
	registered := caddy.ListPlugins()["others"]
	for _, d := range directives {
		if !slices.Contains(registered, "dns."+d) {
			t.Errorf("directive %q has no plugin linked in (registered: %v)", d, registered)
		}
	}
	// What a cluster's Corefile needs: kubeadm's, and the plugins the
	// issue names.
	for _, d := range []string{"errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "loop", "reload", "loadbalance", "log"} {
		if !slices.Contains(directives, d) {
			t.Errorf("directive %q is missing", d)
		}
	}
}

// TestBinary checks what the image relies on: a static executable (the
// image has no libc and no dynamic loader) that says it is CoreDNS
// 1.15.0, the version the image is tagged with.
func TestBinary(t *testing.T) {
	f, err := elf.Open(corednsBin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: it is not a static binary (build it with CGO_ENABLED=0)", corednsBin)
		}
	}
	out, err := exec.Command(corednsBin, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("coredns -version: %v\n%s", err, out)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != "CoreDNS-1.15.0" {
		t.Errorf("coredns -version: first line %q, want %q", first, "CoreDNS-1.15.0")
	}
}

// instance is a running coredns process listening on 127.0.0.1.
type instance struct {
	proc *testproc.Process
	// addr is the DNS address, UDP and TCP.
	addr string
}

// startCoreDNS runs the binary with the Corefile at path. The Corefile
// must serve on addr (bind 127.0.0.1). The process is stopped by its PID
// when the test ends.
func startCoreDNS(t *testing.T, name, path, addr string) *instance {
	t.Helper()
	p := testproc.Start(t, name, corednsBin, "-conf", path)
	return &instance{proc: p, addr: addr}
}

// waitReady waits until the ready plugin at readyAddr answers 200: every
// plugin that reports readiness, the kubernetes plugin's caches among
// them, is ready.
func (in *instance) waitReady(t *testing.T, readyAddr string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	in.proc.WaitReady(t, 90*time.Second, func() (bool, string) {
		resp, err := client.Get("http://" + readyAddr + "/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "/ready: " + resp.Status
	})
}

// query asks the instance one question over UDP, retried over TCP when
// the answer was truncated.
func (in *instance) query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, in.addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, in.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", dns.TypeToString[qtype], name, err)
	}
	return r, nil
}

// eventually polls check every 100ms until it returns nil, and fails the
// test with its last error once timeout has passed.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddrs is n loopback addresses (host:port) on distinct ports that
// nothing listened on a moment ago, for TCP or UDP: a DNS server takes
// both.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	for range 5 {
		addrs := make([]string, 0, n)
		for _, port := range testnet.FreePorts(t, n) {
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				break
			}
			pc.Close()
			addrs = append(addrs, addr)
		}
		if len(addrs) == n {
			return addrs
		}
	}
	t.Fatalf("no %d loopback ports free for both TCP and UDP", n)
	return nil
}

// writeFile writes data to path through a rename, as the kubelet updates
// a ConfigMap volume: a reader sees the old file or the new one, never
// half of it.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
