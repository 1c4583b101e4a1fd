// Package iptables applies kube-proxy's rules to the kernel: the hooks in
// the built-in chains and checks with github.com/coreos/go-iptables, bulk
// chain updates with iptables-restore --noflush (only our chains are
// touched), and clean-up of everything kube-proxy made.
package iptables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	goiptables "github.com/coreos/go-iptables/iptables"

	"coracle.dev/kube-proxy/internal/rules"
)

// Runner runs the iptables commands of the network namespace the process
// is in.
type Runner struct {
	ipt     *goiptables.IPTables
	restore string
}

// New finds iptables and iptables-restore.
func New() (*Runner, error) {
	ipt, err := goiptables.New(goiptables.IPFamily(goiptables.ProtocolIPv4), goiptables.Timeout(10))
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	restore, err := exec.LookPath("iptables-restore")
	if err != nil {
		return nil, fmt.Errorf("iptables-restore: %w", err)
	}
	return &Runner{ipt: ipt, restore: restore}, nil
}

// baseChains are the chains the hooks jump to; they must exist before the
// hooks are added.
var baseChains = []struct{ table, chain string }{
	{rules.TableNAT, rules.ChainServices}, {rules.TableNAT, rules.ChainPostrouting},
	{rules.TableFilter, rules.ChainServices}, {rules.TableFilter, rules.ChainExternalServices},
	{rules.TableFilter, rules.ChainForward}, {rules.TableFilter, rules.ChainFirewall},
}

// EnsureHooks creates the base chains if they are missing and puts the
// jumps to them first in the built-in chains, once each.
func (r *Runner) EnsureHooks() error {
	for _, c := range baseChains {
		ok, err := r.ipt.ChainExists(c.table, c.chain)
		if err != nil {
			return fmt.Errorf("check chain %s/%s: %w", c.table, c.chain, err)
		}
		if !ok {
			if err := r.ipt.NewChain(c.table, c.chain); err != nil {
				return fmt.Errorf("create chain %s/%s: %w", c.table, c.chain, err)
			}
		}
	}
	for _, j := range rules.Jumps() {
		if err := r.ipt.InsertUnique(j.Table, j.Chain, 1, j.Args...); err != nil {
			return fmt.Errorf("hook %s/%s -> %s: %w", j.Table, j.Chain, j.Args[len(j.Args)-1], err)
		}
	}
	return nil
}

// HooksIntact reports whether every hook is in place and the nat
// KUBE-SERVICES chain holds want rules: a cheap check (it lists one chain)
// that catches a flushed table.
func (r *Runner) HooksIntact(want int) (bool, error) {
	for _, j := range rules.Jumps() {
		ok, err := r.ipt.Exists(j.Table, j.Chain, j.Args...)
		if err != nil || !ok {
			return false, err
		}
	}
	lines, err := r.ipt.List(rules.TableNAT, rules.ChainServices)
	if err != nil {
		var e *goiptables.Error
		if errors.As(err, &e) && e.IsNotExist() {
			return false, nil
		}
		return false, err
	}
	return len(lines)-1 == want, nil // the first line is "-N KUBE-SERVICES"
}

// Chains lists the chains of table. It lists the whole table, which takes
// seconds when it holds tens of thousands of chains: kube-proxy does it
// once, at start.
func (r *Runner) Chains(table string) ([]string, error) {
	return r.ipt.ListChains(table)
}

// Restore applies payload with iptables-restore --noflush: the chains it
// declares are replaced, every other chain is left alone, and the whole
// payload commits at once or not at all.
func (r *Runner) Restore(ctx context.Context, payload string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.restore, "--noflush", "-w", "10")
	cmd.Stdin = strings.NewReader(payload)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

const cleanupChunk = 2000

// Cleanup removes the hooks and every chain kube-proxy owns from the nat
// and filter tables, and nothing else.
func (r *Runner) Cleanup(ctx context.Context) error {
	var errs []error
	for _, j := range rules.Jumps() {
		// No target chain, no jump to it: and checking for the jump
		// would fail ("Chain ... does not exist"), so a second cleanup
		// would.
		if target := jumpTarget(j.Args); target != "" {
			if ok, err := r.ipt.ChainExists(j.Table, target); err == nil && !ok {
				continue
			}
		}
		if err := r.ipt.DeleteIfExists(j.Table, j.Chain, j.Args...); err != nil {
			errs = append(errs, fmt.Errorf("unhook %s/%s: %w", j.Table, j.Chain, err))
		}
	}
	// Flush every chain first, then delete them: with no rule left there
	// is no jump left, so the deletions can go in any order, in pieces
	// (see rules.Render for why pieces).
	var flush, del []string
	for _, table := range []string{rules.TableFilter, rules.TableNAT} {
		chains, err := r.ipt.ListChains(table)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", table, err))
			continue
		}
		var mine []string
		for _, c := range chains {
			if rules.OwnedChain(table, c) {
				mine = append(mine, c)
			}
		}
		for start := 0; start < len(mine); start += cleanupChunk {
			part := mine[start:min(start+cleanupChunk, len(mine))]
			var f, d strings.Builder
			f.WriteString("*" + table + "\n")
			d.WriteString("*" + table + "\n")
			for _, c := range part {
				f.WriteString(":" + c + " - [0:0]\n")
				d.WriteString("-X " + c + "\n")
			}
			f.WriteString("COMMIT\n")
			d.WriteString("COMMIT\n")
			flush, del = append(flush, f.String()), append(del, d.String())
		}
	}
	for _, p := range append(flush, del...) {
		if err := r.Restore(ctx, p); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// jumpTarget is the chain a rule's "-j" names ("" if none).
func jumpTarget(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-j" {
			return args[i+1]
		}
	}
	return ""
}
