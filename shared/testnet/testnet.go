// Package testnet hands tests addresses nothing else on the machine uses:
// free loopback ports, and a /24 pod CIDR no interface or route covers.
// Each test package picks its pod CIDRs from its own 10.X.0.0/16 (see the
// constants), so packages that `go test` runs at once never collide.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"
)

// The second octets of the 10.X.0.0/16 ranges the test packages that run
// real pods take their pod CIDRs from.
const (
	// MultiNodeE2E's clusters take a whole /16 (10.250.0.0/16), a /24
	// per node, as a real cluster's --cluster-cidr: one test at a time.
	MultiNodeE2E         = 250
	KubeProxyE2E         = 251
	ControllerManagerE2E = 252
	CtlE2E               = 253
	KubeletIntegration   = 254
)

// FreeAddr is a loopback address with a port nothing listens on.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePorts is n distinct loopback ports that were free a moment ago. All
// n listeners are open at once, so the ports differ from each other;
// another process may still take one before ours binds it, which the
// starters detect ("address already in use") and retry on new ports.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("pick a free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// FreePodCIDR picks a 10.<octet>.Y.0/24 that no interface address or
// route of this machine is in.
func FreePodCIDR(tb testing.TB, octet int) *net.IPNet {
	tb.Helper()
	routes, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "all").Output()
	if err != nil {
		tb.Fatalf("ip route: %v (is iproute2 installed? deploy/install-deps.sh)", err)
	}
	addrs, err := exec.Command("ip", "-4", "-o", "addr").Output()
	if err != nil {
		tb.Fatalf("ip addr: %v", err)
	}
	used := string(routes) + string(addrs)
	for range 256 {
		prefix := fmt.Sprintf("10.%d.%d.", octet, 1+rand.IntN(250))
		if !strings.Contains(used, prefix) {
			_, n, _ := net.ParseCIDR(prefix + "0/24")
			return n
		}
	}
	tb.Fatalf("no free 10.%d.Y.0/24", octet)
	return nil
}
