package cni

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// masquerade rule of a pod CIDR, in nat POSTROUTING: traffic from pods to
// anywhere but other pods leaves with the node's address.
func (n *Network) masqueradeRule(cidr string) []string {
	return []string{"-s", cidr, "!", "-d", cidr, "-m", "comment", "--comment", "coracle pod network " + n.opts.NetworkName, "-j", "MASQUERADE"}
}

// masquerade installs the rule for cidr and removes the one of old.
func (n *Network) masquerade(cidr, old string) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	if err := ipt.AppendUnique("nat", "POSTROUTING", n.masqueradeRule(cidr)...); err != nil {
		return fmt.Errorf("masquerade %s: %w", cidr, err)
	}
	if old != "" && old != cidr {
		if err := ipt.DeleteIfExists("nat", "POSTROUTING", n.masqueradeRule(old)...); err != nil {
			return fmt.Errorf("remove masquerade of %s: %w", old, err)
		}
	}
	return nil
}

// RemoveMasquerade removes the masquerade rule of cidr (a teardown).
func (n *Network) RemoveMasquerade(cidr string) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	return ipt.DeleteIfExists("nat", "POSTROUTING", n.masqueradeRule(cidr)...)
}

// RemoveAllMasquerades removes every masquerade rule of this network,
// whatever its CIDR.
func (n *Network) RemoveAllMasquerades() error {
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
		if len(f) < 3 || f[0] != "-A" || !containsComment(r, "coracle pod network "+n.opts.NetworkName) {
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "-s" {
				if err := n.RemoveMasquerade(f[i+1]); err != nil {
					errs = append(errs, err)
				}
				break
			}
		}
	}
	return errors.Join(errs...)
}

func containsComment(rule, comment string) bool {
	return strings.Contains(rule, comment)
}
