// Package dns decides how a pod resolves names, as Kubernetes' kubelet
// does: the resolver configuration its containers get as
// /etc/resolv.conf (from the pod's dnsPolicy and dnsConfig, the
// kubelet's --cluster-dns, --cluster-domain and the node's --resolv-conf),
// the pod's host name and domain (spec.hostname, spec.subdomain,
// spec.hostnameOverride, spec.setHostnameAsFQDN), and its /etc/hosts.
//
// Everything here is a pure function of its arguments but
// Configurer.HostConfig and CheckLimitsForResolvConf, which read the
// node's resolv.conf: the runtime writes the files, and the kubelet
// records the Events the forming returns.
package dns

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
)

// Limits on a pod's resolver configuration, Kubernetes' (its API
// validation refuses a dnsConfig beyond them; the kubelet trims what the
// merge with the node's configuration makes of it).
const (
	MaxDNSNameservers     = 3
	MaxDNSSearchPaths     = 32
	MaxDNSSearchListChars = 2048
)

// DefaultResolvConf is the node's resolver configuration, --resolv-conf's
// default.
const DefaultResolvConf = "/etc/resolv.conf"

// maxResolvConfLength is the most of a resolv.conf read: a longer file is
// not a resolver configuration.
const maxResolvConfLength = 10 << 20

// defaultOptions are the options of a pod on the cluster's DNS: names
// with fewer than 5 dots are tried with the search domains first, so
// "svc.ns" finds svc.ns.svc.cluster.local.
var defaultOptions = []string{"ndots:5"}

// Config is a resolver configuration: a resolv.conf's nameservers, search
// domains and options ("ndots:5", "edns0").
type Config struct {
	Servers  []string
	Searches []string
	Options  []string
}

// Bytes is the configuration as a resolv.conf, written as containerd
// writes a pod's: the search line, a nameserver line each, the options
// line, each only when not empty.
func (c Config) Bytes() []byte {
	var b bytes.Buffer
	if len(c.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.Searches, " "))
	}
	for _, s := range c.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(c.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.Options, " "))
	}
	return b.Bytes()
}

// ParseResolvConf reads a resolv.conf: nameserver lines add up, the last
// search line wins (its domains without a trailing dot, "." dropped), and
// options lines merge, a later option replacing an earlier one of its
// name. Other lines (domain, sortlist) are ignored, as the kubelet
// ignores them; a nameserver line without an address is an error.
func ParseResolvConf(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxResolvConfLength+1))
	if err != nil {
		return Config{}, err
	}
	if len(data) > maxResolvConfLength {
		return Config{}, fmt.Errorf("the read limit is reached")
	}
	c := Config{Servers: []string{}, Searches: []string{}, Options: []string{}}
	var errs []error
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) < 2 {
				errs = append(errs, errors.New("nameserver list is empty "))
				continue
			}
			c.Servers = append(c.Servers, fields[1])
		case "search":
			// The same domain with and without its trailing dot counts
			// once, so as not to hit the search limits for nothing.
			c.Searches = []string{}
			for _, s := range fields[1:] {
				if s != "." {
					c.Searches = append(c.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			c.Options = mergeOptions(c.Options, fields[1:])
		}
	}
	return c, errors.Join(errs...)
}

// optionName is the name of an option written name or name:value.
func optionName(opt string) string {
	name, _, _ := strings.Cut(opt, ":")
	return name
}

// mergeOptions returns opts with each of more added: one of a name
// already there replaces it in its place, others go at the end.
// Kubernetes' kubelet merges through a map and so writes options in no
// particular order; keeping the order makes a pod's resolv.conf the same
// every time it is written.
func mergeOptions(opts, more []string) []string {
	out := slices.Clone(opts)
	for _, o := range more {
		if i := slices.IndexFunc(out, func(have string) bool { return optionName(have) == optionName(o) }); i >= 0 {
			out[i] = o
			continue
		}
		out = append(out, o)
	}
	return out
}

// podOptions are a dnsConfig's options as resolv.conf writes them: name,
// or name:value when the value is not empty.
func podOptions(opts []v1.PodDNSConfigOption) []string {
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		if o.Value != nil && *o.Value != "" {
			out = append(out, o.Name+":"+*o.Value)
			continue
		}
		out = append(out, o.Name)
	}
	return out
}

// omitDuplicates keeps the first of each string, in order.
func omitDuplicates(strs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range strs {
		if !seen[s] {
			out = append(out, s)
			seen[s] = true
		}
	}
	return out
}

// Event is a warning the kubelet records while forming a pod's resolver
// configuration, with Kubernetes' reasons and messages.
type Event struct {
	// OnNode puts the event on the node rather than on the pod.
	OnNode  bool
	Reason  string
	Message string
}

// Event reasons.
const (
	// ReasonDNSConfigForming: the pod's configuration went past the
	// limits and was trimmed.
	ReasonDNSConfigForming = "DNSConfigForming"
	// ReasonMissingClusterDNS: a ClusterFirst pod on a kubelet without
	// --cluster-dns gets the node's configuration.
	ReasonMissingClusterDNS = "MissingClusterDNS"
	// ReasonCheckLimitsForResolvConf: the node's resolv.conf cannot be
	// read, or its search line goes past what a pod can take.
	ReasonCheckLimitsForResolvConf = "CheckLimitsForResolvConf"
)

// Configurer forms pods' resolver configurations from the kubelet's
// settings. The zero value gives pods no cluster DNS and no node
// configuration.
type Configurer struct {
	// ClusterDNS are the cluster DNS servers' addresses (--cluster-dns),
	// the only nameservers of ClusterFirst pods.
	ClusterDNS []net.IP
	// ClusterDomain is the cluster's domain (--cluster-domain,
	// cluster.local), searched after the pod's namespace's.
	ClusterDomain string
	// ResolverConfig is the node's resolv.conf (--resolv-conf), the base
	// of every pod's configuration; "" means none, and pods of the
	// node's configuration then ask the node itself (127.0.0.1).
	ResolverConfig string
	// NodeIPs are the node's addresses: without a ResolverConfig a pod of
	// the node's configuration gets 127.0.0.1 (::1 for IPv6) for each.
	NodeIPs []net.IP
}

// HostConfig reads the node's resolver configuration, ResolverConfig; it
// is empty without one.
func (c *Configurer) HostConfig() (Config, error) {
	if c.ResolverConfig == "" {
		return Config{}, nil
	}
	f, err := os.Open(c.ResolverConfig)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	conf, err := ParseResolvConf(f)
	if err != nil {
		return Config{}, fmt.Errorf("Encountered error while parsing resolv conf file. Error: %w", err) //nolint:staticcheck // Kubernetes' message
	}
	return conf, nil
}

// policy is what a pod's dnsPolicy comes to.
type policy int

const (
	policyCluster policy = iota
	policyHost
	policyNone
)

// podPolicy is the pod's policy: ClusterFirst falls back to Default on
// the host network (ClusterFirstWithHostNet is the way to the cluster's
// DNS there); an unknown policy, which the apiserver refuses, counts as
// ClusterFirst.
func podPolicy(pod *v1.Pod) policy {
	switch pod.Spec.DNSPolicy {
	case v1.DNSNone:
		return policyNone
	case v1.DNSClusterFirstWithHostNet:
		return policyCluster
	case v1.DNSDefault:
		return policyHost
	case v1.DNSClusterFirst, "":
		if pod.Spec.HostNetwork {
			return policyHost
		}
	}
	return policyCluster
}

// PodDNS forms the pod's resolver configuration on the node's, host (see
// HostConfig), as the kubelet's GetPodDNS does:
//
//   - ClusterFirst (and ClusterFirstWithHostNet): the cluster DNS servers,
//     the search domains <ns>.svc.<domain> svc.<domain> <domain> then the
//     node's, and ndots:5;
//   - Default (and ClusterFirst on the host network, or on a kubelet
//     without --cluster-dns, with a MissingClusterDNS event): the node's;
//   - None: nothing but the dnsConfig.
//
// The pod's dnsConfig is then merged in: nameservers and searches
// appended (without duplicates), options merged by name with the pod's
// winning. Beyond the limits (3 nameservers, 32 search domains, 2048
// characters of search line, 253 per domain) the configuration is
// trimmed, with a DNSConfigForming event.
func (c *Configurer) PodDNS(pod *v1.Pod, host Config) (Config, []Event) {
	var events []Event
	conf := Config{
		Servers:  slices.Clone(host.Servers),
		Searches: slices.Clone(host.Searches),
		Options:  slices.Clone(host.Options),
	}
	p := podPolicy(pod)
	if p == policyCluster && len(c.ClusterDNS) == 0 {
		msg := fmt.Sprintf("kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.", v1.DNSClusterFirst, v1.DNSDefault)
		events = append(events,
			Event{OnNode: true, Reason: ReasonMissingClusterDNS, Message: msg},
			Event{Reason: ReasonMissingClusterDNS, Message: fmt.Sprintf("pod: %q. %s", podDesc(pod), msg)})
		p = policyHost
	}
	switch p {
	case policyNone:
		conf = Config{}
	case policyCluster:
		// The cluster's DNS is the pod's only nameserver: it forwards
		// what it does not serve to the node's upstream servers.
		conf.Servers = make([]string, 0, len(c.ClusterDNS))
		for _, ip := range c.ClusterDNS {
			conf.Servers = append(conf.Servers, ip.String())
		}
		conf.Searches = c.clusterSearches(host.Searches, pod.Namespace)
		conf.Options = slices.Clone(defaultOptions)
	case policyHost:
		if c.ResolverConfig == "" {
			// No node configuration: as a resolver with no nameserver
			// asks the local machine, ask the node itself, and search
			// nothing.
			for _, ip := range c.NodeIPs {
				if ip.To4() == nil {
					conf.Servers = append(conf.Servers, "::1")
				} else {
					conf.Servers = append(conf.Servers, "127.0.0.1")
				}
			}
			if len(conf.Servers) == 0 {
				conf.Servers = append(conf.Servers, "127.0.0.1")
			}
			conf.Searches = []string{"."}
		}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		conf.Servers = omitDuplicates(append(conf.Servers, dc.Nameservers...))
		conf.Searches = omitDuplicates(append(conf.Searches, dc.Searches...))
		conf.Options = mergeOptions(conf.Options, podOptions(dc.Options))
	}
	var ev *Event
	if conf.Servers, ev = fitNameservers(conf.Servers); ev != nil {
		events = append(events, *ev)
	}
	if conf.Searches, ev = fitSearches(conf.Searches); ev != nil {
		events = append(events, *ev)
	}
	return conf, events
}

// clusterSearches are a ClusterFirst pod's search domains: its
// namespace's Services, all Services, the cluster, then the node's.
func (c *Configurer) clusterSearches(hostSearches []string, namespace string) []string {
	if c.ClusterDomain == "" {
		return slices.Clone(hostSearches)
	}
	cluster := []string{namespace + ".svc." + c.ClusterDomain, "svc." + c.ClusterDomain, c.ClusterDomain}
	return omitDuplicates(append(cluster, hostSearches...))
}

// fitNameservers keeps the first MaxDNSNameservers: a resolver uses no
// more.
func fitNameservers(servers []string) ([]string, *Event) {
	if len(servers) <= MaxDNSNameservers {
		return servers, nil
	}
	servers = servers[:MaxDNSNameservers]
	return servers, &Event{Reason: ReasonDNSConfigForming, Message: fmt.Sprintf(
		"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s", strings.Join(servers, " "))}
}

// fitSearches keeps the first MaxDNSSearchPaths search domains, drops any
// longer than a DNS name (some resolvers, glibc 2.28's, abort on one),
// then drops domains from the end until the line fits
// MaxDNSSearchListChars.
func fitSearches(searches []string) ([]string, *Event) {
	trimmed := false
	if len(searches) > MaxDNSSearchPaths {
		searches = searches[:MaxDNSSearchPaths]
		trimmed = true
	}
	kept := make([]string, 0, len(searches))
	for _, s := range searches {
		if len(s) > utilvalidation.DNS1123SubdomainMaxLength {
			trimmed = true
			continue
		}
		kept = append(kept, s)
	}
	searches = kept
	for len(searches) > 0 && len(strings.Join(searches, " ")) > MaxDNSSearchListChars {
		searches = searches[:len(searches)-1]
		trimmed = true
	}
	if !trimmed {
		return searches, nil
	}
	return searches, &Event{Reason: ReasonDNSConfigForming, Message: fmt.Sprintf(
		"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: %s", strings.Join(searches, " "))}
}

// CheckLimitsForResolvConf checks the node's resolv.conf once, as the
// kubelet does when its sync loop starts: whether it can be read and
// whether its search line leaves room for the cluster's domains. It
// returns the node event to record, or nil.
func (c *Configurer) CheckLimitsForResolvConf() *Event {
	if c.ResolverConfig == "" {
		return nil
	}
	event := func(msg string) *Event {
		return &Event{OnNode: true, Reason: ReasonCheckLimitsForResolvConf, Message: msg}
	}
	f, err := os.Open(c.ResolverConfig)
	if err != nil {
		return event(err.Error())
	}
	defer f.Close()
	conf, err := ParseResolvConf(f)
	if err != nil {
		return event(err.Error())
	}
	limit := MaxDNSSearchPaths
	if c.ClusterDomain != "" {
		limit -= 3
	}
	if len(conf.Searches) > limit {
		return event(fmt.Sprintf("Resolv.conf file '%s' contains search line consisting of more than %d domains!", c.ResolverConfig, limit))
	}
	for _, s := range conf.Searches {
		if len(s) > utilvalidation.DNS1123SubdomainMaxLength {
			return event(fmt.Sprintf("Resolv.conf file %q contains a search path which length is more than allowed %d chars!", c.ResolverConfig, utilvalidation.DNS1123SubdomainMaxLength))
		}
	}
	if len(strings.Join(conf.Searches, " ")) > MaxDNSSearchListChars {
		return event(fmt.Sprintf("Resolv.conf file '%s' contains search line which length is more than allowed %d chars!", c.ResolverConfig, MaxDNSSearchListChars))
	}
	return nil
}

// podDesc names a pod in the kubelet's messages: name_namespace(uid).
func podDesc(pod *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
