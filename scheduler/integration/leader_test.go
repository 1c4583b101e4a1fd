package integration

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"coracle.dev/scheduler/app"
)

// isLeader reads the scheduler_leader gauge from a replica's /metrics.
func isLeader(addr string) (bool, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "scheduler_leader "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, errors.New("no scheduler_leader metric")
}

func waitLeader(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, addr+" leading", func() (bool, error) { return isLeader(addr) })
}

// killableTransport fails every request once killed: a process that died
// sends nothing more, and in particular does not release its Lease.
type killableTransport struct {
	rt   http.RoundTripper
	dead *atomic.Bool
}

func (k *killableTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if k.dead.Load() {
		return nil, errors.New("replica killed")
	}
	return k.rt.RoundTrip(r)
}

// TestLeaderElection runs two replicas in-process: only the leader
// schedules; when it dies without releasing its Lease, the other takes
// over within 15 seconds and schedules.
func TestLeaderElection(t *testing.T) {
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "n"})
	var deadA atomic.Bool
	cfgA := rest.CopyConfig(c.Config)
	cfgA.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &killableTransport{rt: rt, dead: &deadA} })
	a := startScheduler(t, c, func(cfg *app.Config) { cfg.LeaderElect, cfg.Identity, cfg.RESTConfig = true, "replica-a", cfgA })
	waitLeader(t, a.StatusAddress(), 30*time.Second)
	b := startScheduler(t, c, func(cfg *app.Config) { cfg.LeaderElect, cfg.Identity = true, "replica-b" })
	createPod(t, c, podSpec{name: "before"})
	waitBound(t, c, "default", "before")
	if lead, _ := isLeader(b.StatusAddress()); lead {
		t.Fatal("both replicas lead")
	}

	deadA.Store(true)
	killed := time.Now()
	_ = a.Close()
	waitLeader(t, b.StatusAddress(), 20*time.Second)
	if took := time.Since(killed); took > 15*time.Second {
		t.Errorf("takeover took %v, want within 15s", took)
	} else {
		t.Logf("takeover after %v", took.Round(100*time.Millisecond))
	}
	createPod(t, c, podSpec{name: "after"})
	waitBound(t, c, "default", "after")
}

// schedulerBinary is bin/scheduler from $CORACLE_BIN_DIR (make test sets
// it), or, when that is unset, built from source into a temporary
// directory so that go test ./scheduler/... runs on its own.
func schedulerBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("CORACLE_BIN_DIR"); dir != "" {
		path := filepath.Join(dir, "scheduler")
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			t.Fatalf("%s: not found (%v): run make build first", path, err)
		}
		return path
	}
	out := filepath.Join(t.TempDir(), "scheduler")
	cmd := exec.Command("go", "build", "-o", out, "coracle.dev/scheduler/cmd/scheduler")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CORACLE_BIN_DIR unset and go build failed: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestLeaderElectionProcesses runs two bin/scheduler processes with
// --leader-elect, SIGKILLs the leader, and checks that the other takes over
// within 15 seconds.
func TestLeaderElectionProcesses(t *testing.T) {
	bin := schedulerBinary(t)
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "n"})
	type replica struct {
		cmd  *exec.Cmd
		addr string
		log  string
	}
	start := func(name string) *replica {
		r := &replica{addr: freePort(t), log: filepath.Join(t.TempDir(), name+".log")}
		f, err := os.Create(r.log)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd = exec.Command(bin, "--kubeconfig", c.Kubeconfig, "--leader-elect", "--status-address", r.addr,
			"--kube-api-qps", "100", "--log-format", "console")
		r.cmd.Stdout, r.cmd.Stderr = f, f
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
			f.Close()
			if t.Failed() {
				b, _ := os.ReadFile(r.log)
				t.Logf("%s log:\n%s", name, b)
			}
		})
		eventually(t, 30*time.Second, name+" ready", func() (bool, error) {
			resp, err := http.Get("http://" + r.addr + "/readyz")
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Errorf("readyz %d", resp.StatusCode)
		})
		return r
	}
	r1 := start("first")
	waitLeader(t, r1.addr, 30*time.Second)
	r2 := start("second")
	createPod(t, c, podSpec{name: "before"})
	waitBound(t, c, "default", "before")
	if lead, _ := isLeader(r2.addr); lead {
		t.Fatal("both replicas lead")
	}
	if err := r1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitLeader(t, r2.addr, 20*time.Second)
	if took := time.Since(killed); took > 15*time.Second {
		t.Errorf("takeover took %v, want within 15s", took)
	} else {
		t.Logf("takeover after %v", took.Round(100*time.Millisecond))
	}
	createPod(t, c, podSpec{name: "after"})
	waitBound(t, c, "default", "after")
	// A clean stop exits 0.
	if err := r2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r2.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("SIGTERM: exit %v, want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("SIGTERM did not stop the scheduler within 20s")
	}
}
