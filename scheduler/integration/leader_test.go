package integration

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"coracle.dev/scheduler/app"
	"coracle.dev/shared/testbin"
	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
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

// TestLeaderElectionProcesses runs two bin/scheduler processes with
// --leader-elect, SIGKILLs the leader, and checks that the other takes over
// within 15 seconds.
func TestLeaderElectionProcesses(t *testing.T) {
	bin := testbin.Path(t, "scheduler")
	c := startCluster(t)
	createNode(t, c, nodeSpec{name: "n"})
	type replica struct {
		proc *testproc.Process
		addr string
	}
	start := func(name string) replica {
		r := replica{addr: testnet.FreeAddr(t)}
		r.proc = testproc.Start(t, name, bin, "--kubeconfig", c.Kubeconfig, "--leader-elect", "--status-address", r.addr,
			"--kube-api-qps", "100", "--log-format", "console")
		r.proc.WaitReady(t, 30*time.Second, testproc.Readyz(r.addr))
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
	r1.proc.Kill()
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
	if err := r2.proc.Stop(20 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v, want exit status 0 within 20s", err)
	}
}
