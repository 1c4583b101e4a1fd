// Package netnstest gives tests and benchmarks network namespaces of
// their own, so that the nodes, routes and rules they make never touch the
// host's: namespaces removed at the end of the test, sockets opened
// inside them from the test process, and the apiserver (on the host's
// loopback) relayed into them.
package netnstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/tools/clientcmd"
)

// RequireRoot fails the test, loudly, when it cannot make namespaces and
// rules, or a tool it runs is missing.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it creates network namespaces and iptables rules (run it with sudo)")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-save", "iptables-restore", "nsenter", "conntrack"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (deploy/install-deps.sh installs it): %v", tool, err)
		}
	}
}

// Run runs a command and fails the test if it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NS is a network namespace: one the test made (New), or one a program
// under test made (At).
type NS struct {
	Name string
	path string // the namespace's file, when not /var/run/netns/Name
}

// At is the network namespace whose file is path, such as a pod's that
// the kubelet keeps under its root directory. The test does not own it:
// nothing deletes it when the test ends.
func At(path string) NS { return NS{Name: path, path: path} }

// Path is the namespace's file, for nsenter --net=.
func (n NS) Path() string {
	if n.path != "" {
		return n.path
	}
	return "/var/run/netns/" + n.Name
}

// New makes a namespace with loopback up; it is deleted when the test
// ends.
func New(t testing.TB, name string) NS {
	t.Helper()
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if _, err := os.Stat("/var/run/netns/" + name); os.IsNotExist(err) {
			return // already deleted by the test
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v %s", name, err, out)
		}
	})
	n := NS{Name: name}
	n.Run(t, "ip", "link", "set", "lo", "up")
	return n
}

// Run runs a command inside the namespace.
func (n NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"nsenter", "--net=" + n.Path()}, args...)...)
}

// Command is a command to run inside the namespace.
func (n NS) Command(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + n.Path()}, args...)...)
}

// Do runs f on an OS thread switched into the namespace: sockets f
// creates belong to the namespace for good, whichever thread uses them
// later.
func (n NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread stays locked if switching back fails: it then dies
		// with this goroutine instead of serving others.
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(n.Path())
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen listens inside the namespace until the test ends.
func (n NS) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := n.Do(func() (err error) { l, err = net.Listen(network, addr); return }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Dial connects from inside the namespace.
func (n NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		d := net.Dialer{Timeout: 2 * time.Second}
		c, err = d.DialContext(ctx, network, addr)
		return
	})
	return c, err
}

// Get fetches url from inside the namespace on a new connection and
// returns the body, trimmed.
func (n NS) Get(url string) (string, error) {
	client := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{DialContext: n.Dial, DisableKeepAlives: true},
	}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// RelayAPIServer makes the apiserver at hostPort (on the host's
// loopback) reachable from inside the namespace at 127.0.0.1:port, and
// writes a copy of the kubeconfig at kubeconfig pointing there; it
// returns the copy's path.
func (n NS) RelayAPIServer(t testing.TB, hostPort string, port int, kubeconfig string) string {
	t.Helper()
	l := n.Listen(t, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				u, err := net.Dial("tcp", hostPort)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); _ = u.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		c.Server = fmt.Sprintf("https://127.0.0.1:%d", port)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+n.Name)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
