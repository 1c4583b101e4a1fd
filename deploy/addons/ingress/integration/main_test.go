package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The apiserver refuses EndpointSlice addresses in 127.0.0.0/8, as
// Kubernetes does: no proxy could reach a pod there. So the tests run in
// a network namespace of their own, where the backends' addresses
// (backendIPs, on that namespace's loopback device) are ordinary
// addresses, and the apiserver, the proxy, the backends and the clients
// all live: nothing the tests send leaves the namespace, and nothing of
// the host's network is touched. TestMain makes the namespace and runs
// the test binary again inside it.
var backendIPs = []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}

// inNamespaceEnv marks the run inside the namespace.
const inNamespaceEnv = "CORACLE_INGRESS_TEST_NETNS"

func TestMain(m *testing.M) {
	if os.Getenv(inNamespaceEnv) != "" {
		os.Exit(m.Run())
	}
	code, err := runInNamespace()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ingress integration tests: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// runInNamespace runs this test binary, with its arguments, in a new
// network namespace that has loopback up and the backend addresses, and
// deletes the namespace afterwards.
func runInNamespace() (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("these tests need root: they run in a network namespace of their own (run them with sudo)")
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return 0, fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	name := "coracle-ingress-test-" + strconv.Itoa(os.Getpid())
	if err := ip("netns", "add", name); err != nil {
		return 0, err
	}
	defer func() { _ = ip("netns", "del", name) }()
	if err := ip("-n", name, "link", "set", "lo", "up"); err != nil {
		return 0, err
	}
	for _, a := range backendIPs {
		if err := ip("-n", name, "addr", "add", a+"/32", "dev", "lo"); err != nil {
			return 0, err
		}
	}
	// Caddy must keep its files in --data-dir: its default places are
	// pointed at an empty directory, checked after the run.
	home, err := os.MkdirTemp("", "ingress-test-xdg")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(home)
	// nsenter rather than "ip netns exec", which remounts /sys.
	cmd := exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + name, self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), inNamespaceEnv+"="+name,
		"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if code := exit.ExitCode(); code > 0 {
			return code, nil
		}
		return 1, nil // killed by a signal
	}
	if err != nil {
		return 0, err
	}
	if written, _ := os.ReadDir(home); len(written) > 0 {
		return 0, fmt.Errorf("files written outside --data-dir, in %s: %v", home, written)
	}
	return 0, nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
