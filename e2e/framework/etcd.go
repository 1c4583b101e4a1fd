package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"coracle.dev/shared/testnet"
	"coracle.dev/shared/testproc"
)

const (
	// EtcdReadyTimeout bounds the start of an external etcd cluster.
	EtcdReadyTimeout = 60 * time.Second
	// startAttempts bounds the retries on a port another process took
	// between our picking it and etcd binding it.
	startAttempts = 3
)

// EtcdMember is one external etcd process.
type EtcdMember struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string

	proc *testproc.Process
}

// EtcdCluster is a cluster of Debian's etcd (/usr/bin/etcd) on loopback.
type EtcdCluster struct {
	Members []*EtcdMember

	t    testing.TB
	bin  string
	root string // temporary directory for every attempt's data and logs
}

// StartEtcdCluster starts size etcd members on free loopback ports, each in
// its own temporary data directory, and waits until every member reports
// itself healthy. Members are killed when the test ends.
func StartEtcdCluster(t testing.TB, size int) *EtcdCluster {
	t.Helper()
	c := &EtcdCluster{t: t, bin: SystemBinary(t, "etcd", "install Debian's etcd-server package (deploy/install-deps.sh, which make test runs)")}
	// Made before the cleanup below is registered, so removed after it
	// has printed the logs.
	c.root = t.TempDir()
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.Kill()
		}
		if t.Failed() {
			for _, m := range c.Members {
				t.Logf("etcd %s log %s (tail):\n%s", m.Name, m.LogPath, testproc.LogTail(m.LogPath, 30))
			}
		}
	})
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		lastErr = c.start(size)
		if lastErr == nil {
			return c
		}
		portTaken := false
		for _, m := range c.Members {
			m.Kill()
			portTaken = portTaken || testproc.LogContains(m.LogPath, "address already in use")
		}
		if !portTaken {
			break
		}
		t.Logf("etcd attempt %d: a port was taken; retrying on new ports", attempt)
	}
	t.Fatalf("start etcd cluster: %v (the members' logs follow)", lastErr)
	return nil
}

func (c *EtcdCluster) start(size int) error {
	base, err := os.MkdirTemp(c.root, "etcd")
	if err != nil {
		return err
	}
	ports := testnet.FreePorts(c.t, 2*size)
	c.Members = make([]*EtcdMember, size)
	var initial []string
	for i := range size {
		m := &EtcdMember{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: "http://127.0.0.1:" + strconv.Itoa(ports[2*i]),
			PeerURL:   "http://127.0.0.1:" + strconv.Itoa(ports[2*i+1]),
		}
		m.DataDir = filepath.Join(base, m.Name)
		m.LogPath = filepath.Join(base, m.Name+".log")
		c.Members[i] = m
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	token := fmt.Sprintf("coracle-e2e-%d", time.Now().UnixNano())
	for _, m := range c.Members {
		args := []string{
			"--name", m.Name,
			"--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL,
			"--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL,
			"--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--logger", "zap",
			// Twice the defaults: a busy two-core machine must not
			// trigger elections of its own.
			"--heartbeat-interval", "200",
			"--election-timeout", "2000",
		}
		proc, err := testproc.Spawn("etcd "+m.Name, c.bin, args, m.LogPath)
		if err != nil {
			return err
		}
		m.proc = proc
	}
	for _, m := range c.Members {
		err := m.proc.Await(EtcdReadyTimeout, func() (bool, string) {
			if err := m.Healthy(); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ClientURLs are every member's client URL, for --etcd-servers.
func (c *EtcdCluster) ClientURLs() []string {
	var urls []string
	for _, m := range c.Members {
		urls = append(urls, m.ClientURL)
	}
	return urls
}

// Leader is the index of the member that is the raft leader, as the
// running members report it; it fails if they do not agree on one.
func (c *EtcdCluster) Leader(ctx context.Context) (int, error) {
	ids := map[string]int{}      // member id -> index
	leaders := map[string]bool{} // leader ids the members report
	for i, m := range c.Members {
		if m.proc.Exited() {
			continue
		}
		st, err := m.Status(ctx)
		if err != nil {
			return -1, err
		}
		ids[st.Header.MemberID] = i
		leaders[st.Leader] = true
	}
	if len(leaders) != 1 {
		return -1, fmt.Errorf("running members disagree on the leader: %v", leaders)
	}
	var leader string
	for l := range leaders {
		leader = l
	}
	i, ok := ids[leader]
	if !ok {
		return -1, fmt.Errorf("leader %q is not a running member", leader)
	}
	return i, nil
}

// EtcdStatus is the part of etcd's /v3/maintenance/status answer the tests
// read (the JSON gateway prints 64-bit ids as strings).
type EtcdStatus struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader string `json:"leader"`
}

// Status asks the member for its raft status.
func (m *EtcdMember) Status(ctx context.Context) (EtcdStatus, error) {
	var st EtcdStatus
	body, err := m.call(ctx, http.MethodPost, "/v3/maintenance/status", "{}")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("etcd %s status %q: %w", m.Name, body, err)
	}
	return st, nil
}

// Healthy asks the member's /health, which needs a leader and a quorum.
func (m *EtcdMember) Healthy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	body, err := m.call(ctx, http.MethodGet, "/health", "")
	if err != nil {
		return err
	}
	var h struct {
		Health string `json:"health"`
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Health != "true" {
		return fmt.Errorf("etcd %s /health: %s", m.Name, body)
	}
	return nil
}

func (m *EtcdMember) call(ctx context.Context, method, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, m.ClientURL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", m.Name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("etcd %s %s: %w", m.Name, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("etcd %s %s: %d %s", m.Name, path, resp.StatusCode, data)
	}
	return data, nil
}

// PID is the member's process id.
func (m *EtcdMember) PID() int { return m.proc.PID() }

// Kill sends SIGKILL to the member and waits until it is gone.
func (m *EtcdMember) Kill() {
	if m.proc != nil {
		m.proc.Kill()
	}
}
