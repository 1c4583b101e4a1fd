package integration

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/coreos/go-iptables/iptables"

	"coracle.dev/kubelet/internal/network/cni"
)

// TestMasqueradeKeepsPodToPodSource follows the pod network's nat rules,
// in a network namespace the test made, as the node's pod CIDR and the
// cluster's pod CIDRs change: traffic from the node's pods to any node's
// pod CIDR is returned before the MASQUERADE, everything else reaches
// it; a teardown leaves nothing.
func TestMasqueradeKeepsPodToPodSource(t *testing.T) {
	n := newNetns(t)
	if _, err := iptables.New(); err != nil {
		t.Fatalf("iptables: %v (deploy/install-deps.sh installs it)", err)
	}
	network := cni.New(cni.Options{BinDir: "/usr/lib/cni", StateDir: t.TempDir(), Bridge: "cni0", NetworkName: "coracle"})
	comment := `-m comment --comment "coracle pod network coracle"`

	// rules lists the nat rules of the pod network: POSTROUTING's, then
	// its chain's in order.
	rules := func() (post, chain []string, err error) {
		ipt, err := iptables.New()
		if err != nil {
			return nil, nil, err
		}
		all, err := ipt.List("nat", "POSTROUTING")
		if err != nil {
			return nil, nil, err
		}
		var name string
		for _, r := range all {
			if strings.Contains(r, "coracle pod network") {
				post = append(post, r)
				f := strings.Fields(r)
				name = f[len(f)-1]
			}
		}
		if name != "" {
			if chain, err = ipt.List("nat", name); err != nil {
				return nil, nil, err
			}
			chain = chain[1:] // -N
		}
		return post, chain, nil
	}
	// expect checks that the chain returns for want (any order) and
	// masquerades last.
	expect := func(step string, podCIDR string, want ...string) {
		t.Helper()
		var post, chain []string
		var err error
		n.do(t, func() { post, chain, err = rules() })
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if len(post) != 1 || !strings.HasPrefix(post[0], "-A POSTROUTING -s "+podCIDR+" "+comment+" -j CORACLE-MASQ-") {
			t.Errorf("%s: POSTROUTING rules %q, want one jump for %s", step, post, podCIDR)
		}
		if len(chain) == 0 || !strings.HasSuffix(chain[len(chain)-1], comment+" -j MASQUERADE") {
			t.Fatalf("%s: chain %q does not end in MASQUERADE", step, chain)
		}
		got := map[string]bool{}
		for _, r := range chain[:len(chain)-1] {
			f := strings.Fields(r)
			if len(f) < 4 || f[2] != "-d" || !strings.HasSuffix(r, comment+" -j RETURN") {
				t.Errorf("%s: unexpected rule %q", step, r)
				continue
			}
			got[f[3]] = true
		}
		if len(got) != len(want) {
			t.Errorf("%s: returns for %v, want %v", step, got, want)
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s: no RETURN for %s in %q", step, w, chain)
			}
		}
	}
	var err error
	run := func(f func() error) {
		t.Helper()
		n.do(t, func() { err = f() })
		if err != nil {
			t.Fatal(err)
		}
	}
	prefixes := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	ipt := func(args ...string) error {
		i, err := iptables.New()
		if err != nil {
			return err
		}
		switch args[0] {
		case "-A":
			return i.Append("nat", args[1], args[2:]...)
		case "-D":
			return i.Delete("nat", args[1], args[2:]...)
		}
		return fmt.Errorf("ipt %v", args)
	}
	legacy := []string{"-s", "10.244.0.0/24", "!", "-d", "10.244.0.0/24", "-m", "comment", "--comment", "coracle pod network coracle", "-j", "MASQUERADE"}

	// An older kubelet's single rule is replaced.
	run(func() error { return ipt(append([]string{"-A", "POSTROUTING"}, legacy...)...) })
	run(func() error { return network.SetPodCIDR("10.244.0.0/24") })
	expect("one node", "10.244.0.0/24", "10.244.0.0/24")

	run(func() error {
		return network.SetClusterPodCIDRs(prefixes("10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "fd10::/64"))
	})
	expect("three nodes (IPv6 is not iptables')", "10.244.0.0/24", "10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24")

	run(func() error { return network.SetClusterPodCIDRs(prefixes("10.244.0.0/24", "10.244.2.0/24")) })
	expect("a node left", "10.244.0.0/24", "10.244.0.0/24", "10.244.2.0/24")

	chainName := mustChain(t, n)
	run(func() error {
		return ipt("-D", chainName, "-d", "10.244.2.0/24", "-m", "comment", "--comment", "coracle pod network coracle", "-j", "RETURN")
	})
	run(func() error { return network.SetClusterPodCIDRs(prefixes("10.244.0.0/24", "10.244.2.0/24")) })
	expect("a rule deleted by hand restored", "10.244.0.0/24", "10.244.0.0/24", "10.244.2.0/24")

	run(func() error { return network.SetPodCIDR("10.244.5.0/24") })
	expect("the node's pod CIDR changed", "10.244.5.0/24", "10.244.0.0/24", "10.244.2.0/24", "10.244.5.0/24")

	run(network.RemoveAllMasquerades)
	var post, chain []string
	n.do(t, func() { post, chain, err = rules() })
	if err != nil || len(post) != 0 || len(chain) != 0 {
		t.Errorf("after teardown: POSTROUTING %q, chain %q, %v", post, chain, err)
	}
	n.do(t, func() {
		var i *iptables.IPTables
		if i, err = iptables.New(); err == nil {
			var chains []string
			chains, err = i.ListChains("nat")
			for _, c := range chains {
				if strings.HasPrefix(c, "CORACLE-MASQ-") {
					err = fmt.Errorf("chain %s left", c)
				}
			}
		}
	})
	if err != nil {
		t.Errorf("after teardown: %v", err)
	}
}

// mustChain names the pod network's chain from its POSTROUTING jump.
func mustChain(t *testing.T, n *testNetns) string {
	t.Helper()
	var name string
	var err error
	n.do(t, func() {
		var i *iptables.IPTables
		if i, err = iptables.New(); err != nil {
			return
		}
		var rs []string
		if rs, err = i.List("nat", "POSTROUTING"); err != nil {
			return
		}
		for _, r := range rs {
			if strings.Contains(r, "coracle pod network") {
				f := strings.Fields(r)
				name = f[len(f)-1]
			}
		}
	})
	if err != nil || name == "" {
		t.Fatalf("no chain: %v", err)
	}
	return name
}
