// Package rules computes the iptables rules kube-proxy wants, as a pure
// function of the Services, the EndpointSlices and the node it runs on,
// and renders them as iptables-restore input.
//
// The layout is Kubernetes' own (pkg/proxy/iptables):
//
//	nat PREROUTING, OUTPUT ─► KUBE-SERVICES ─┬─► KUBE-SVC-x (cluster IP, every endpoint)
//	                                         ├─► KUBE-SVL-x (local endpoints only)
//	                                         ├─► KUBE-EXT-x (external IPs, load-balancer IPs)
//	                                         └─► KUBE-NODEPORTS ─► KUBE-EXT-x   (last rule, dst-type LOCAL)
//	KUBE-SVC-x / KUBE-SVL-x ─► KUBE-SEP-y (one per endpoint: hairpin mark, DNAT)
//	nat POSTROUTING ─► KUBE-POSTROUTING (MASQUERADE what KUBE-MARK-MASQ marked 0x4000)
//	filter OUTPUT, FORWARD ─► KUBE-SERVICES (REJECT cluster IPs without endpoints)
//	filter INPUT, FORWARD ─► KUBE-EXTERNAL-SERVICES (REJECT/DROP external destinations without endpoints)
//	filter FORWARD ─► KUBE-FORWARD; filter INPUT, OUTPUT ─► KUBE-FIREWALL
//
// Chain names are hashed as upstream's are, so rules written by Coracle
// and by kube-proxy look alike: "KUBE-SVC-" + the first 16 characters of
// base32(sha256(servicePortName + protocol)).
package rules

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Tables kube-proxy writes.
const (
	TableNAT    = "nat"
	TableFilter = "filter"
)

// Chains kube-proxy owns, besides the per-service ones.
const (
	ChainServices         = "KUBE-SERVICES"
	ChainNodePorts        = "KUBE-NODEPORTS"
	ChainPostrouting      = "KUBE-POSTROUTING"
	ChainMarkMasq         = "KUBE-MARK-MASQ"
	ChainExternalServices = "KUBE-EXTERNAL-SERVICES"
	ChainForward          = "KUBE-FORWARD"
	ChainFirewall         = "KUBE-FIREWALL"
)

// Prefixes of the per-service and per-endpoint chains.
const (
	PrefixSVC = "KUBE-SVC-"
	PrefixSVL = "KUBE-SVL-"
	PrefixEXT = "KUBE-EXT-"
	PrefixSEP = "KUBE-SEP-"
)

// MasqMark is the mark KUBE-MARK-MASQ sets and KUBE-POSTROUTING
// masquerades, as Kubernetes' default --iptables-masquerade-bit 14.
const MasqMark = "0x4000"

// OwnedChain reports whether kube-proxy created chain in table: the
// chains --cleanup removes, and nothing else.
func OwnedChain(table, chain string) bool {
	switch table {
	case TableNAT:
		switch chain {
		case ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq:
			return true
		}
		for _, p := range []string{PrefixSVC, PrefixSVL, PrefixEXT, PrefixSEP} {
			if strings.HasPrefix(chain, p) {
				return true
			}
		}
	case TableFilter:
		switch chain {
		case ChainServices, ChainExternalServices, ChainForward, ChainFirewall:
			return true
		}
	}
	return false
}

// Jump is a rule in a built-in chain that sends packets to one of ours;
// it is set up (and removed at clean-up) apart from the restore input.
type Jump struct {
	Table, Chain string
	Args         []string
}

// Jumps are the hooks kube-proxy puts in the built-in chains, first in
// each, as upstream does.
func Jumps() []Jump {
	return []Jump{
		{TableNAT, "PREROUTING", []string{"-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
		{TableNAT, "OUTPUT", []string{"-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
		{TableNAT, "POSTROUTING", []string{"-m", "comment", "--comment", "kubernetes postrouting rules", "-j", ChainPostrouting}},
		{TableFilter, "INPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals", "-j", ChainExternalServices}},
		{TableFilter, "FORWARD", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals", "-j", ChainExternalServices}},
		{TableFilter, "FORWARD", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
		{TableFilter, "OUTPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
		{TableFilter, "FORWARD", []string{"-m", "comment", "--comment", "kubernetes forwarding rules", "-j", ChainForward}},
		{TableFilter, "INPUT", []string{"-j", ChainFirewall}},
		{TableFilter, "OUTPUT", []string{"-j", ChainFirewall}},
	}
}

// Input is everything the rules depend on.
type Input struct {
	// NodeName is this node: endpoints whose nodeName it is are local.
	NodeName string
	// ClusterCIDR is the pods' range ("" unknown): traffic to a cluster
	// IP from outside it is masqueraded, and pods reaching an external
	// destination of an externalTrafficPolicy Local service go to any
	// endpoint.
	ClusterCIDR string
	Services    []*v1.Service
	Slices      []*discoveryv1.EndpointSlice
	// Cache, when set, keeps each Service's rules from one Build to the
	// next and reuses them while the Service and its slices are
	// unchanged (same resourceVersions): the output is the same, only
	// faster. Build replaces its contents.
	Cache *Cache
}

// Cache holds the rules of each Service between Builds; the zero value is
// ready. It is not safe for concurrent Builds.
type Cache struct {
	node    string // NodeName|ClusterCIDR|large the entries were built for
	entries map[string]cacheEntry
}

type cacheEntry struct {
	version string
	frag    *fragment
}

// fragment is one Service's share of the rules: lines for the shared
// chains and chains of its own (never changed once built, so results
// may share them).
type fragment struct {
	natServices, nodePorts, filterServices, external []string
	chains                                           []*Chain
	ports                                            []ServicePort
	problems                                         []Problem
}

func (f *fragment) chain(name string) *Chain {
	for _, c := range f.chains {
		if c.Name == name {
			return c
		}
	}
	c := &Chain{Name: name}
	f.chains = append(f.chains, c)
	return c
}

func line(chain string, args ...string) string { return "-A " + chain + " " + strings.Join(args, " ") }

// version identifies what a Service's rules depend on.
func version(svc *v1.Service, slices []*discoveryv1.EndpointSlice) string {
	var b strings.Builder
	b.WriteString(string(svc.UID) + "@" + svc.ResourceVersion)
	vs := make([]string, 0, len(slices))
	for _, s := range slices {
		vs = append(vs, s.Name+"@"+string(s.UID)+"@"+s.ResourceVersion)
	}
	sort.Strings(vs)
	for _, v := range vs {
		b.WriteString("|" + v)
	}
	return b.String()
}

// Problem is why a Service (or one of its ports) got no rules.
type Problem struct {
	Namespace, Name string
	Reason, Message string
}

// ServicePort is what conntrack clean-up needs to know about one
// programmed service port.
type ServicePort struct {
	// Name is "namespace/name:port".
	Name     string
	Protocol v1.Protocol
	// ClusterIP, ExternalIPs (external and load-balancer IPs), Port and
	// NodePort (0: none) are where clients send to.
	ClusterIP   string
	ExternalIPs []string
	Port        int32
	NodePort    int32
	// Endpoints are the endpoint IPs traffic may be sent to.
	Endpoints []string
}

// Chain is one chain's rules, each a full "-A CHAIN ..." line.
type Chain struct {
	Name  string
	Rules []string
}

// Table is an ordered set of chains.
type Table struct {
	Name   string
	Chains []*Chain
	index  map[string]*Chain
}

func newTable(name string) *Table { return &Table{Name: name, index: map[string]*Chain{}} }

// chain returns the chain name, declaring it if it is new.
func (t *Table) chain(name string) *Chain {
	if c := t.index[name]; c != nil {
		return c
	}
	c := &Chain{Name: name}
	t.index[name] = c
	t.Chains = append(t.Chains, c)
	return c
}

// Get is the chain called name, or nil.
func (t *Table) Get(name string) *Chain {
	if len(t.index) != len(t.Chains) {
		t.index = make(map[string]*Chain, len(t.Chains))
		for _, c := range t.Chains {
			t.index[c.Name] = c
		}
	}
	return t.index[name]
}

func (c *Chain) add(args ...string) {
	c.Rules = append(c.Rules, "-A "+c.Name+" "+strings.Join(args, " "))
}

// Result is the whole desired rule set.
type Result struct {
	Filter, NAT *Table
	Ports       []ServicePort
	Problems    []Problem

	// natBase is how many of NAT's chains are the shared ones (the rest
	// come from frags, keyed namespace/name).
	natBase int
	frags   map[string]*fragment
	ordered []*fragment // frags in service order
}

// Tables are the result's tables, filter first.
func (r *Result) Tables() []*Table { return []*Table{r.Filter, r.NAT} }

// RuleCount is the number of rules in table.
func (t *Table) RuleCount() int {
	n := 0
	for _, c := range t.Chains {
		n += len(c.Rules)
	}
	return n
}

// hash16 is upstream's chain-name hash.
func hash16(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// SVCChain, SVLChain, EXTChain and SEPChain name a service port's chains;
// spn is "namespace/name:port", proto lower case ("tcp").
func SVCChain(spn, proto string) string { return PrefixSVC + hash16(spn+proto) }
func SVLChain(spn, proto string) string { return PrefixSVL + hash16(spn+proto) }
func EXTChain(spn, proto string) string { return PrefixEXT + hash16(spn+proto) }
func SEPChain(spn, proto, endpoint string) string {
	return PrefixSEP + hash16(spn+proto+endpoint)
}

func comment(s string) []string { return []string{"-m", "comment", "--comment", strconv.Quote(s)} }

type endpoint struct {
	ip    string
	port  int32
	local bool
	// ready: serving and not terminating; fallback: serving and
	// terminating, used only when no ready one is left.
	ready, fallback bool
}

func (e endpoint) String() string { return net.JoinHostPort(e.ip, strconv.Itoa(int(e.port))) }

// Build computes the rules for in. It is deterministic: the same input,
// in any order, gives the same output.
func Build(in Input) *Result {
	r := &Result{Filter: newTable(TableFilter), NAT: newTable(TableNAT)}
	natServices := r.NAT.chain(ChainServices)
	nodePorts := r.NAT.chain(ChainNodePorts)
	post := r.NAT.chain(ChainPostrouting)
	masq := r.NAT.chain(ChainMarkMasq)
	filterServices := r.Filter.chain(ChainServices)
	external := r.Filter.chain(ChainExternalServices)
	forward := r.Filter.chain(ChainForward)
	firewall := r.Filter.chain(ChainFirewall)

	post.add("-m", "mark", "!", "--mark", MasqMark+"/"+MasqMark, "-j", "RETURN")
	post.add("-j", "MARK", "--xor-mark", MasqMark)
	post.add(append(comment("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE", "--random-fully")...)
	masq.add("-j", "MARK", "--or-mark", MasqMark)
	forward.add(append(comment("kubernetes forwarding rules"), "-m", "mark", "--mark", MasqMark+"/"+MasqMark, "-j", "ACCEPT")...)
	forward.add(append(comment("kubernetes forwarding conntrack rule"), "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")...)
	// Node ports on 127.0.0.1 need route_localnet; this keeps other hosts
	// from reaching the node's loopback services through it (CVE-2020-8558).
	firewall.add(append(comment("block incoming localnet connections"), "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP")...)

	slices := map[string][]*discoveryv1.EndpointSlice{}
	endpoints := 0
	for _, s := range in.Slices {
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		key := s.Namespace + "/" + svc
		slices[key] = append(slices[key], s)
		endpoints += len(s.Endpoints)
	}
	large := endpoints > LargeClusterEndpoints
	services := append([]*v1.Service(nil), in.Services...)
	sort.Slice(services, func(i, j int) bool {
		if services[i].Namespace != services[j].Namespace {
			return services[i].Namespace < services[j].Namespace
		}
		return services[i].Name < services[j].Name
	})
	r.natBase = len(r.NAT.Chains)
	r.frags = make(map[string]*fragment, len(services))
	var entries map[string]cacheEntry
	if in.Cache != nil {
		entries = make(map[string]cacheEntry, len(services))
		// Rules depend on these too: a change drops the whole cache.
		if node := fmt.Sprintf("%s|%s|%v", in.NodeName, in.ClusterCIDR, large); in.Cache.node != node {
			in.Cache.node, in.Cache.entries = node, nil
		}
	}
	frags := make([]*fragment, len(services))
	nChains, nPorts := len(r.NAT.Chains), 0
	for i, svc := range services {
		key := svc.Namespace + "/" + svc.Name
		mine := slices[key]
		var f *fragment
		if in.Cache != nil {
			v := version(svc, mine)
			// A cached entry is only trusted when the objects carry
			// versions (API objects always do).
			if e, ok := in.Cache.entries[key]; ok && e.version == v && svc.ResourceVersion != "" {
				f = e.frag
			}
			if f == nil {
				f = buildService(in, large, svc, mine)
			}
			entries[key] = cacheEntry{version: v, frag: f}
		} else {
			f = buildService(in, large, svc, mine)
		}
		frags[i] = f
		r.frags[key] = f
		nChains += len(f.chains)
		nPorts += len(f.ports)
	}
	r.ordered = frags
	r.NAT.Chains = append(make([]*Chain, 0, nChains), r.NAT.Chains...)
	r.Ports = make([]ServicePort, 0, nPorts)
	for _, f := range frags {
		natServices.Rules = append(natServices.Rules, f.natServices...)
		nodePorts.Rules = append(nodePorts.Rules, f.nodePorts...)
		filterServices.Rules = append(filterServices.Rules, f.filterServices...)
		external.Rules = append(external.Rules, f.external...)
		r.NAT.Chains = append(r.NAT.Chains, f.chains...)
		r.Ports = append(r.Ports, f.ports...)
		r.Problems = append(r.Problems, f.problems...)
	}
	if in.Cache != nil {
		in.Cache.entries = entries
	}
	natServices.add(append(comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain"), "-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainNodePorts)...)
	return r
}

type builder struct {
	in    Input
	f     *fragment
	large bool
}

// LargeClusterEndpoints is upstream's threshold: with more endpoints than
// this in all, endpoint rules carry no comment, which makes the rule set
// about a fifth faster to write.
const LargeClusterEndpoints = 1000

// epComment is the comment of an endpoint rule; none in a large cluster.
func (b *builder) epComment(s string) []string {
	if b.large {
		return nil
	}
	return comment(s)
}

func buildService(in Input, large bool, svc *v1.Service, slices []*discoveryv1.EndpointSlice) *fragment {
	b := builder{in: in, f: &fragment{}, large: large}
	b.service(svc, slices)
	return b.f
}

func (b *builder) problem(svc *v1.Service, reason, format string, args ...any) {
	b.f.problems = append(b.f.problems, Problem{Namespace: svc.Namespace, Name: svc.Name, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func ipv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil
}

func (b *builder) service(svc *v1.Service, slices []*discoveryv1.EndpointSlice) {
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return
	}
	clusterIP := svc.Spec.ClusterIP
	if clusterIP == "" || clusterIP == v1.ClusterIPNone {
		return // headless: DNS only
	}
	if !ipv4(clusterIP) {
		b.problem(svc, "UnsupportedClusterIP", "cluster IP %s: only IPv4 services are programmed", clusterIP)
		return
	}
	var extIPs []string
	for _, ip := range svc.Spec.ExternalIPs {
		if !ipv4(ip) {
			b.problem(svc, "UnsupportedExternalIP", "external IP %q: only IPv4 addresses are programmed", ip)
			continue
		}
		extIPs = append(extIPs, ip)
	}
	var lbIPs []string
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IP == "" || (ing.IPMode != nil && *ing.IPMode == v1.LoadBalancerIPModeProxy) {
				continue
			}
			if ipv4(ing.IP) {
				lbIPs = append(lbIPs, ing.IP)
			}
		}
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol != v1.ProtocolTCP && p.Protocol != v1.ProtocolUDP && p.Protocol != "" {
			b.problem(svc, "UnsupportedProtocol", "port %q: protocol %s is not supported (TCP and UDP are)", p.Name, p.Protocol)
			continue
		}
		b.port(svc, p, slices, extIPs, lbIPs)
	}
}

// endpoints selects the slices' endpoints for port p, deduplicated and
// sorted.
func endpointsFor(p *v1.ServicePort, proto v1.Protocol, slices []*discoveryv1.EndpointSlice, node string) []endpoint {
	seen := map[string]bool{}
	var out []endpoint
	for _, s := range slices {
		var port int32 = -1
		for _, sp := range s.Ports {
			name, prot := "", v1.ProtocolTCP
			if sp.Name != nil {
				name = *sp.Name
			}
			if sp.Protocol != nil {
				prot = *sp.Protocol
			}
			if name == p.Name && prot == proto && sp.Port != nil {
				port = *sp.Port
				break
			}
		}
		if port < 0 {
			continue
		}
		for _, e := range s.Endpoints {
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			if !ready && !(serving && terminating) {
				continue
			}
			for _, addr := range e.Addresses {
				if !ipv4(addr) {
					continue
				}
				ep := endpoint{ip: addr, port: port, ready: ready, fallback: !ready}
				ep.local = e.NodeName != nil && *e.NodeName == node && node != ""
				if seen[ep.String()] {
					continue
				}
				seen[ep.String()] = true
				out = append(out, ep)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// usable keeps the ready endpoints (of eps, local only if local), or the
// serving-terminating ones when none is ready, as upstream does.
func usable(eps []endpoint, local bool) []endpoint {
	var ready, fallback []endpoint
	for _, e := range eps {
		if local && !e.local {
			continue
		}
		if e.ready {
			ready = append(ready, e)
		} else if e.fallback {
			fallback = append(fallback, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return fallback
}

func (b *builder) port(svc *v1.Service, p *v1.ServicePort, slices []*discoveryv1.EndpointSlice, extIPs, lbIPs []string) {
	proto := p.Protocol
	if proto == "" {
		proto = v1.ProtocolTCP
	}
	lproto := strings.ToLower(string(proto))
	spn := svc.Namespace + "/" + svc.Name + ":" + p.Name
	all := endpointsFor(p, proto, slices, b.in.NodeName)
	clusterEPs := usable(all, false)
	localEPs := usable(all, true)

	itpLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal
	etpLocal := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	var nodePort int32
	if svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		nodePort = p.NodePort
	}
	hasExternal := nodePort != 0 || len(extIPs) > 0 || len(lbIPs) > 0
	if !hasExternal {
		etpLocal = false
	}

	svcChain, svlChain, extChain := SVCChain(spn, lproto), SVLChain(spn, lproto), EXTChain(spn, lproto)
	dport := []string{"-p", lproto, "-m", lproto, "--dport", strconv.Itoa(int(p.Port))}

	sp := ServicePort{Name: spn, Protocol: proto, ClusterIP: svc.Spec.ClusterIP, Port: p.Port, NodePort: nodePort}
	sp.ExternalIPs = append(append(sp.ExternalIPs, extIPs...), lbIPs...)
	used := map[string]endpoint{}
	for _, e := range clusterEPs {
		used[e.String()] = e
	}
	for _, e := range localEPs {
		used[e.String()] = e
	}

	// Internal traffic: the cluster IP.
	internalChain, internalEPs := svcChain, clusterEPs
	if itpLocal {
		internalChain, internalEPs = svlChain, localEPs
	}
	clusterIPMatch := append([]string{"-d", svc.Spec.ClusterIP + "/32"}, dport...)
	switch {
	case len(internalEPs) > 0:
		b.f.natServices = append(b.f.natServices, line(ChainServices, append(append(comment(spn+" cluster IP"), clusterIPMatch...), "-j", internalChain)...))
	case len(clusterEPs) == 0:
		b.f.filterServices = append(b.f.filterServices, line(ChainServices, append(append(comment(spn+" has no endpoints"), clusterIPMatch...), "-j", "REJECT")...))
	default:
		b.f.filterServices = append(b.f.filterServices, line(ChainServices, append(append(comment(spn+" has no local endpoints"), clusterIPMatch...), "-j", "DROP")...))
	}

	// External traffic: node ports, external IPs, load-balancer IPs.
	if hasExternal {
		externalEPs := clusterEPs
		if etpLocal {
			externalEPs = localEPs
		}
		target, why := "", ""
		switch {
		case len(clusterEPs) == 0:
			target, why = "REJECT", spn+" has no endpoints"
		case len(externalEPs) == 0:
			target, why = "DROP", spn+" has no local endpoints"
		}
		if target != "" {
			for _, ip := range append(append([]string(nil), extIPs...), lbIPs...) {
				b.f.external = append(b.f.external, line(ChainExternalServices, append(append(comment(why), "-d", ip+"/32"), append(dport, "-j", target)...)...))
			}
			if nodePort != 0 {
				b.f.external = append(b.f.external, line(ChainExternalServices, append(comment(why), "-m", "addrtype", "--dst-type", "LOCAL", "-p", lproto, "-m", lproto, "--dport", strconv.Itoa(int(nodePort)), "-j", target)...))
			}
		}
		if len(clusterEPs) > 0 {
			ext := b.f.chain(extChain)
			if !etpLocal {
				ext.add(append(comment("masquerade traffic for "+spn+" external destinations"), "-j", ChainMarkMasq)...)
				ext.add("-j", svcChain)
			} else {
				if b.in.ClusterCIDR != "" {
					ext.add(append(comment("pod traffic for "+spn+" external destinations"), "-s", b.in.ClusterCIDR, "-j", svcChain)...)
				}
				ext.add(append(comment("masquerade LOCAL traffic for "+spn+" external destinations"), "-m", "addrtype", "--src-type", "LOCAL", "-j", ChainMarkMasq)...)
				ext.add(append(comment("route LOCAL traffic for "+spn+" external destinations"), "-m", "addrtype", "--src-type", "LOCAL", "-j", svcChain)...)
				if len(localEPs) > 0 {
					ext.add("-j", svlChain)
				}
			}
			for _, ip := range extIPs {
				b.f.natServices = append(b.f.natServices, line(ChainServices, append(append(comment(spn+" external IP"), "-d", ip+"/32"), append(dport, "-j", extChain)...)...))
			}
			for _, ip := range lbIPs {
				b.f.natServices = append(b.f.natServices, line(ChainServices, append(append(comment(spn+" loadbalancer IP"), "-d", ip+"/32"), append(dport, "-j", extChain)...)...))
			}
			if nodePort != 0 {
				b.f.nodePorts = append(b.f.nodePorts, line(ChainNodePorts, append(comment(spn), "-p", lproto, "-m", lproto, "--dport", strconv.Itoa(int(nodePort)), "-j", extChain)...))
			}
		}
	}

	// The service chains and their endpoints.
	affinity := 0
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = int(v1.DefaultClientIPServiceAffinitySeconds)
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = int(*c.ClientIP.TimeoutSeconds)
		}
	}
	if len(clusterEPs) > 0 {
		c := b.f.chain(svcChain)
		if b.in.ClusterCIDR != "" {
			c.add(append(append(comment(spn+" cluster IP"), "!", "-s", b.in.ClusterCIDR), append(clusterIPMatch, "-j", ChainMarkMasq)...)...)
		}
		b.endpointRules(c, spn, lproto, clusterEPs, affinity)
	}
	if (itpLocal || etpLocal) && len(localEPs) > 0 {
		b.endpointRules(b.f.chain(svlChain), spn, lproto, localEPs, affinity)
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := used[k]
		sp.Endpoints = append(sp.Endpoints, e.ip)
		sep := b.f.chain(SEPChain(spn, lproto, k))
		sep.add(append(b.epComment(spn), "-s", e.ip+"/32", "-j", ChainMarkMasq)...)
		args := b.epComment(spn)
		if affinity > 0 {
			args = append(args, "-m", "recent", "--name", sep.Name, "--set")
		}
		sep.add(append(args, "-p", lproto, "-m", lproto, "-j", "DNAT", "--to-destination", k)...)
	}
	b.f.ports = append(b.f.ports, sp)
}

// endpointRules spreads c's traffic over eps: sticky clients first, then
// an even random split (the i-th of n rules takes 1/(n-i) of what is
// left).
func (b *builder) endpointRules(c *Chain, spn, lproto string, eps []endpoint, affinity int) {
	if affinity > 0 {
		for _, e := range eps {
			sep := SEPChain(spn, lproto, e.String())
			c.add(append(b.epComment(spn+" -> "+e.String()), "-m", "recent", "--name", sep, "--rcheck", "--seconds", strconv.Itoa(affinity), "--reap", "-j", sep)...)
		}
	}
	n := len(eps)
	for i, e := range eps {
		sep := SEPChain(spn, lproto, e.String())
		args := b.epComment(spn + " -> " + e.String())
		if i < n-1 {
			args = append(args, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%0.10f", 1.0/float64(n-i)))
		}
		c.add(append(args, "-j", sep)...)
	}
}
