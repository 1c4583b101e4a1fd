package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// The pod network's masquerade, in the nat table:
//
//	POSTROUTING     -s <pod CIDR> -j CORACLE-MASQ-<h>
//	CORACLE-MASQ-<h> -d <a node's pod CIDR> -j RETURN    (one per pod CIDR known)
//	                 -j MASQUERADE
//
// Traffic from this node's pods to any node's pods keeps its source
// address, as the Kubernetes network model wants (no NAT between pods);
// to anything else it leaves with the node's address. The RETURN rules
// hold the node's own pod CIDR and those SetClusterPodCIDRs was given
// (every node's, from the Node list); with none given they hold the
// node's own only: the one-node case. Every rule carries the comment
// "coracle pod network <name>", by which teardown finds them.
//
// One chain for the node rather than one per pod, as the bridge plugin's
// ipMasq would make: that costs several iptables runs per pod.

// masqChain is the network's nat chain; the name's hash keeps it within
// iptables' 28 characters whatever the network's name.
func (n *Network) masqChain() string {
	sum := sha256.Sum256([]byte(n.opts.NetworkName))
	return "CORACLE-MASQ-" + strings.ToUpper(hex.EncodeToString(sum[:4]))
}

func (n *Network) masqComment() []string {
	return []string{"-m", "comment", "--comment", "coracle pod network " + n.opts.NetworkName}
}

// jumpRule sends the pods' traffic, in POSTROUTING, to the chain.
func (n *Network) jumpRule(podCIDR string) []string {
	return append(append([]string{"-s", podCIDR}, n.masqComment()...), "-j", n.masqChain())
}

// returnRule keeps the source of traffic to the pods of cidr.
func (n *Network) returnRule(cidr string) []string {
	return append(append([]string{"-d", cidr}, n.masqComment()...), "-j", "RETURN")
}

func (n *Network) masqueradeRule() []string {
	return append(n.masqComment(), "-j", "MASQUERADE")
}

// legacyRule is the single POSTROUTING rule kubelets before the chain
// made (it masqueraded pod-to-pod traffic across nodes); it is removed
// wherever found.
func (n *Network) legacyRule(podCIDR string) []string {
	return append(append([]string{"-s", podCIDR, "!", "-d", podCIDR}, n.masqComment()...), "-j", "MASQUERADE")
}

// setMasqueradePodCIDR makes the node's pods' traffic go through the
// chain, and removes the rules of the pod CIDR it had before.
func (n *Network) setMasqueradePodCIDR(cidr string) error {
	n.masqMu.Lock()
	defer n.masqMu.Unlock()
	if err := n.syncMasquerade(cidr); err != nil {
		return err
	}
	old := n.masqPodCIDR
	n.masqPodCIDR = cidr
	if old == "" || old == cidr {
		return nil
	}
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	for _, r := range [][]string{n.jumpRule(old), n.legacyRule(old)} {
		if err := ipt.DeleteIfExists("nat", "POSTROUTING", r...); err != nil {
			return fmt.Errorf("remove masquerade of %s: %w", old, err)
		}
	}
	return nil
}

// SetClusterPodCIDRs sets the pod CIDRs of the cluster's nodes, whose
// traffic from this node's pods is not masqueraded (IPv4 only: the
// masquerade is iptables', not ip6tables'). It is cheap when they did not
// change, and puts back rules someone removed.
func (n *Network) SetClusterPodCIDRs(cidrs []netip.Prefix) error {
	var v4 []string
	for _, p := range cidrs {
		if p.Addr().Is4() {
			v4 = append(v4, p.Masked().String())
		}
	}
	n.masqMu.Lock()
	defer n.masqMu.Unlock()
	n.clusterCIDRs = v4
	if n.masqPodCIDR == "" {
		return nil // set with the pod CIDR
	}
	return n.syncMasquerade(n.masqPodCIDR)
}

// syncMasquerade makes the chain hold a RETURN rule for podCIDR and each
// cluster pod CIDR, and nothing else before its MASQUERADE, then hooks it
// into POSTROUTING. Rules are added before stale ones go, each change a
// rule of its own, so no packet ever meets a chain that masquerades
// pod-to-pod traffic or lets pod-to-outside traffic out unmasqueraded.
// Callers hold masqMu.
func (n *Network) syncMasquerade(podCIDR string) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	chain := n.masqChain()
	if ok, err := ipt.ChainExists("nat", chain); err != nil {
		return fmt.Errorf("masquerade chain %s: %w", chain, err)
	} else if !ok {
		if err := ipt.NewChain("nat", chain); err != nil {
			return fmt.Errorf("masquerade chain %s: %w", chain, err)
		}
	}
	want := append([]string{podCIDR}, n.clusterCIDRs...)
	slices.Sort(want)
	want = slices.Compact(want)
	rules, err := ipt.List("nat", chain)
	if err != nil {
		return fmt.Errorf("masquerade chain %s: %w", chain, err)
	}
	have, masquerades := map[string]bool{}, false
	for _, r := range rules {
		f := strings.Fields(r)
		switch {
		case len(f) < 2 || f[0] != "-A":
		case slices.Contains(f, "RETURN"):
			if i := slices.Index(f, "-d"); i >= 0 && i+1 < len(f) {
				have[f[i+1]] = true
			}
		case slices.Contains(f, "MASQUERADE"):
			masquerades = true
		}
	}
	for _, c := range want {
		if !have[c] {
			if err := ipt.Insert("nat", chain, 1, n.returnRule(c)...); err != nil {
				return fmt.Errorf("keep the source of traffic to pods of %s: %w", c, err)
			}
		}
	}
	if !masquerades {
		if err := ipt.Append("nat", chain, n.masqueradeRule()...); err != nil {
			return fmt.Errorf("masquerade in %s: %w", chain, err)
		}
	}
	for c := range have {
		if !slices.Contains(want, c) {
			if err := ipt.DeleteIfExists("nat", chain, n.returnRule(c)...); err != nil {
				return fmt.Errorf("remove the exception for pods of %s: %w", c, err)
			}
		}
	}
	if err := ipt.AppendUnique("nat", "POSTROUTING", n.jumpRule(podCIDR)...); err != nil {
		return fmt.Errorf("masquerade %s: %w", podCIDR, err)
	}
	if err := ipt.DeleteIfExists("nat", "POSTROUTING", n.legacyRule(podCIDR)...); err != nil {
		return fmt.Errorf("remove the old masquerade of %s: %w", podCIDR, err)
	}
	return nil
}

// RemoveAllMasquerades removes every masquerade rule of this network,
// whatever its pod CIDR, and the chain (a teardown).
func (n *Network) RemoveAllMasquerades() error {
	n.masqMu.Lock()
	defer n.masqMu.Unlock()
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	rules, err := ipt.List("nat", "POSTROUTING")
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rules {
		f := strings.Fields(r)
		if len(f) < 3 || f[0] != "-A" || !strings.Contains(r, "coracle pod network "+n.opts.NetworkName+`"`) {
			continue
		}
		i := slices.Index(f, "-s")
		if i < 0 || i+1 >= len(f) {
			continue
		}
		for _, rule := range [][]string{n.jumpRule(f[i+1]), n.legacyRule(f[i+1])} {
			if err := ipt.DeleteIfExists("nat", "POSTROUTING", rule...); err != nil {
				errs = append(errs, fmt.Errorf("remove masquerade of %s: %w", f[i+1], err))
			}
		}
	}
	chain := n.masqChain()
	if ok, _ := ipt.ChainExists("nat", chain); ok {
		if err := ipt.ClearAndDeleteChain("nat", chain); err != nil {
			errs = append(errs, fmt.Errorf("delete chain %s: %w", chain, err))
		}
	}
	n.masqPodCIDR, n.clusterCIDRs = "", nil
	return errors.Join(errs...)
}
