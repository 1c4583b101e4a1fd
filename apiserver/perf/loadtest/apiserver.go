package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/shared/kubeconfig"
)

// APIServer is an apiserver process started for a benchmark, with an
// embedded etcd, listening on free loopback ports.
type APIServer struct {
	// DataDir is the apiserver's --data-dir.
	DataDir string
	// Kubeconfig is the admin kubeconfig the apiserver wrote.
	Kubeconfig string
	// LogFile takes the apiserver's output.
	LogFile string
	// EtcdMetricsURL is the embedded etcd's /metrics.
	EtcdMetricsURL string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // the process's exit; read after exited closes
}

const (
	readyTimeout = 2 * time.Minute
	stopTimeout  = 45 * time.Second
	startTries   = 3
)

// errPortTaken: a port picked as free was taken before etcd bound it.
var errPortTaken = errors.New("port taken")

// StartAPIServer runs bin with its data in dir and waits until /readyz
// answers ok. The ports for etcd are picked free just before the start;
// if another process takes one in between, it tries again with others.
func StartAPIServer(ctx context.Context, bin, dir string, extraArgs []string, log *zap.Logger) (*APIServer, error) {
	var err error
	for try := range startTries {
		var s *APIServer
		s, err = startOnce(ctx, bin, filepath.Join(dir, fmt.Sprintf("apiserver-%d", try)), extraArgs)
		if err != nil {
			return nil, err
		}
		if err = s.waitReady(ctx); err == nil {
			log.Debug("apiserver ready", zap.String("kubeconfig", s.Kubeconfig), zap.Int("pid", s.cmd.Process.Pid))
			return s, nil
		}
		_ = s.Stop()
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
		log.Info("apiserver port taken; trying other ports", zap.Error(err))
	}
	return nil, err
}

func startOnce(ctx context.Context, bin, dataDir string, extraArgs []string) (*APIServer, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("apiserver data dir: %w", err)
	}
	clientAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	peerAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--data-dir", dataDir, "--bind-address", "127.0.0.1", "--secure-port", "0",
		"--embedded-etcd-client-url", "http://" + clientAddr, "--embedded-etcd-peer-url", "http://" + peerAddr,
	}, extraArgs...)
	s := &APIServer{
		DataDir: dataDir, Kubeconfig: filepath.Join(dataDir, "admin.conf"),
		LogFile: filepath.Join(dataDir, "apiserver.log"), EtcdMetricsURL: "http://" + clientAddr + "/metrics",
		exited: make(chan struct{}),
	}
	logf, err := os.Create(s.LogFile)
	if err != nil {
		return nil, fmt.Errorf("apiserver log: %w", err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// If the benchmark dies without stopping it, the kernel stops it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		_ = logf.Close()
		close(s.exited)
	}()
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls /readyz until it answers ok, the process exits or
// readyTimeout passes.
func (s *APIServer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-s.exited:
			return s.exitError()
		case <-ctx.Done():
			return fmt.Errorf("apiserver not ready within %s (last: %v); log in %s", readyTimeout, last, s.LogFile)
		case <-tick.C:
			if last = s.ready(ctx); last == nil {
				return nil
			}
		}
	}
}

// ready asks /readyz once; the kubeconfig appears when the server listens.
func (s *APIServer) ready(ctx context.Context) error {
	rc, err := kubeconfig.RESTConfig(s.Kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return err
	}
	if string(body) != "ok" {
		return fmt.Errorf("/readyz: %q", body)
	}
	return nil
}

// exitError explains an early exit, with the end of the apiserver's log.
func (s *APIServer) exitError() error {
	tail, _ := os.ReadFile(s.LogFile)
	if len(tail) > 2000 {
		tail = tail[len(tail)-2000:]
	}
	err := fmt.Errorf("apiserver exited before it was ready (%v); log %s ends:\n%s", s.err, s.LogFile, bytes.TrimSpace(tail))
	if strings.Contains(string(tail), "address already in use") {
		return fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return err
}

// PID is the apiserver's process id.
func (s *APIServer) PID() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM, waits for the apiserver's graceful shutdown, and
// kills it if that takes longer than stopTimeout.
func (s *APIServer) Stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal apiserver %d: %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill apiserver %d: %w", s.cmd.Process.Pid, err)
	}
	<-s.exited
	return fmt.Errorf("apiserver %d did not stop within %s; killed", s.cmd.Process.Pid, stopTimeout)
}

// FilesystemOf names the filesystem type holding path (from
// /proc/mounts), since etcd's fsyncs make it matter to write latency.
func FilesystemOf(path string) string {
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "filesystem unknown"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return MountType(string(mounts), abs)
}

// MountType returns the type of the longest mount point in a /proc/mounts
// text that contains path, as "ext4 on /dev/vda".
func MountType(mounts, path string) string {
	best, bestLen := "filesystem unknown", -1
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		dev, point, typ := f[0], f[1], f[2]
		inside := path == point || strings.HasPrefix(path, strings.TrimSuffix(point, "/")+"/")
		if inside && len(point) > bestLen {
			best, bestLen = typ+" on "+dev, len(point)
		}
	}
	return best
}
