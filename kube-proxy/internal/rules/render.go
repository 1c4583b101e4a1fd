package rules

import (
	"sort"
	"strings"
)

// Op writes one chain (replacing its rules) or deletes it.
type Op struct {
	Table  string
	Chain  *Chain // to write; nil to delete
	Delete string
	// group keeps one service's chains together in a full sync (0: not a
	// service's chain).
	group int
}

// Name is the chain the op is about.
func (o Op) Name() string {
	if o.Chain != nil {
		return o.Chain.Name
	}
	return o.Delete
}

// order ranks ops so that every chain exists before a rule jumps to it and
// no chain is deleted while a rule still jumps to it: then the ops can be
// applied in several transactions with every state in between coherent.
//
// A full sync also keeps each service's chains together, services in
// order: a transaction then mostly jumps to chains it declares itself,
// which iptables-nft resolves much faster than chains already in the
// kernel.
func (o Op) order() int {
	name := o.Name()
	if o.Chain == nil {
		switch {
		case strings.HasPrefix(name, PrefixEXT):
			return 6
		case strings.HasPrefix(name, PrefixSVC), strings.HasPrefix(name, PrefixSVL):
			return 7
		default:
			return 8
		}
	}
	if o.Table == TableFilter {
		return 0
	}
	switch {
	case name == ChainMarkMasq || name == ChainPostrouting:
		return 0
	case strings.HasPrefix(name, PrefixSEP):
		return 1
	case strings.HasPrefix(name, PrefixSVC), strings.HasPrefix(name, PrefixSVL):
		return 2
	case strings.HasPrefix(name, PrefixEXT):
		return 3
	case name == ChainNodePorts:
		return 4
	default:
		return 5
	}
}

func (o Op) phase() int {
	switch ord := o.order(); {
	case ord == 0:
		return 0
	case ord <= 3:
		return 1
	case ord <= 5:
		return 2
	default:
		return 3
	}
}

// Diff lists the ops that turn prev into next. With prev nil (a full
// sync) every chain of next is written, and every chain in existing (what
// the kernel has, table → chain names) that kube-proxy owns and next lacks
// is deleted.
func Diff(prev, next *Result, existing map[string][]string) []Op {
	var ops []Op
	if prev == nil {
		for _, c := range next.Filter.Chains {
			ops = append(ops, Op{Table: TableFilter, Chain: c})
		}
		for _, c := range next.NAT.Chains[:next.natBase] {
			ops = append(ops, Op{Table: TableNAT, Chain: c})
		}
		for i, f := range next.ordered {
			for _, c := range f.chains {
				ops = append(ops, Op{Table: TableNAT, Chain: c, group: i + 1})
			}
		}
		for _, t := range next.Tables() {
			var gone []string
			for _, name := range existing[t.Name] {
				if t.Get(name) == nil && OwnedChain(t.Name, name) {
					gone = append(gone, name)
				}
			}
			sort.Strings(gone)
			for _, name := range gone {
				ops = append(ops, Op{Table: t.Name, Delete: name})
			}
		}
		sort.SliceStable(ops, func(i, j int) bool {
			// Writes of shared chains jumped to, then each service's,
			// then the shared chains that jump, then deletions.
			pi, pj := ops[i].phase(), ops[j].phase()
			if pi != pj {
				return pi < pj
			}
			if ops[i].group != ops[j].group {
				return ops[i].group < ops[j].group
			}
			return ops[i].order() < ops[j].order()
		})
		return ops
	}
	// The shared chains, compared one by one.
	changed := func(table string, old []*Chain, c *Chain) {
		for _, oc := range old {
			if oc.Name == c.Name {
				if oc != c && !equalRules(oc.Rules, c.Rules) {
					ops = append(ops, Op{Table: table, Chain: c})
				}
				return
			}
		}
		ops = append(ops, Op{Table: table, Chain: c})
	}
	for _, c := range next.Filter.Chains {
		changed(TableFilter, prev.Filter.Chains, c)
	}
	for _, c := range next.NAT.Chains[:next.natBase] {
		changed(TableNAT, prev.NAT.Chains[:prev.natBase], c)
	}
	// Each service's chains: nothing to do when its rules are the very
	// same (from the cache), else compared with its previous ones.
	var gone []string
	for key, f := range next.frags {
		old := prev.frags[key]
		if old == f {
			continue
		}
		oldChains := map[string]*Chain{}
		if old != nil {
			for _, c := range old.chains {
				oldChains[c.Name] = c
			}
		}
		for _, c := range f.chains {
			if oc := oldChains[c.Name]; oc == nil || !equalRules(oc.Rules, c.Rules) {
				ops = append(ops, Op{Table: TableNAT, Chain: c})
			}
			delete(oldChains, c.Name)
		}
		for name := range oldChains {
			gone = append(gone, name)
		}
	}
	for key, old := range prev.frags {
		if _, ok := next.frags[key]; !ok {
			for _, c := range old.chains {
				gone = append(gone, c.Name)
			}
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		ops = append(ops, Op{Table: TableNAT, Delete: name})
	}
	sort.SliceStable(ops, func(i, j int) bool {
		if oi, oj := ops[i].order(), ops[j].order(); oi != oj {
			return oi < oj
		}
		return ops[i].Name() < ops[j].Name()
	})
	return ops
}

func (r *Result) table(name string) *Table {
	if name == TableNAT {
		return r.NAT
	}
	return r.Filter
}

func equalRules(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Render turns ops into iptables-restore --noflush input: one transaction
// when they touch at most maxChains chains (the usual partial sync), else
// several, in order. iptables-nft's restore slows down with the square of
// the chains declared in one transaction, so a first sync of tens of
// thousands of chains is much faster in pieces; the op order keeps every
// state in between coherent. maxChains <= 0 means one transaction.
func Render(ops []Op, maxChains int) []string {
	var out []string
	for start := 0; start < len(ops); {
		end := len(ops)
		if maxChains > 0 && end-start > maxChains {
			end = start + maxChains
		}
		out = append(out, renderOne(ops[start:end]))
		start = end
	}
	return out
}

func renderOne(ops []Op) string {
	var b strings.Builder
	for _, table := range []string{TableFilter, TableNAT} {
		var mine []Op
		for _, o := range ops {
			if o.Table == table {
				mine = append(mine, o)
			}
		}
		if len(mine) == 0 {
			continue
		}
		b.WriteString("*" + table + "\n")
		for _, o := range mine {
			b.WriteString(":" + o.Name() + " - [0:0]\n")
		}
		for _, o := range mine {
			if o.Chain == nil {
				continue
			}
			for _, r := range o.Chain.Rules {
				b.WriteString(r)
				b.WriteByte('\n')
			}
		}
		for _, o := range mine {
			if o.Chain == nil {
				b.WriteString("-X " + o.Delete + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// Dump is the whole rule set as iptables-restore input, for golden files
// and logs.
func (r *Result) Dump() string {
	ops := Diff(nil, r, nil)
	return Render(ops, 0)[0]
}
