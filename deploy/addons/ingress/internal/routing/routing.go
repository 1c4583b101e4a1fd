// Package routing turns the Ingresses a controller serves into a route
// table: which host, which path, which pod addresses, which certificate.
// It is the pure part of the controller: Build reads Services,
// EndpointSlices and Secrets through a Lookup and decides; it never
// talks to the apiserver or to the proxy. Its decisions follow the
// Ingress API (k8s.io/api/networking/v1) and, where the API leaves the
// choice to the controller, ingress-nginx:
//
//   - Rules of several Ingresses for the same host are merged; when two
//     name the same host, path and path type, the oldest Ingress wins.
//   - A host's paths are tried longest first, Exact before Prefix at the
//     same length; ImplementationSpecific is Prefix. Prefix matches
//     element-wise (/foo matches /foo, /foo/ and /foo/bar, not /foobar).
//   - Exact hosts are tried before wildcard hosts (*.example.com matches
//     one label only); a request for a host no rule names goes to the
//     rules without a host.
//   - A request no path matches goes to the defaultBackend of the oldest
//     Ingress of that host that has one, else to the oldest Ingress's
//     defaultBackend, else it is answered 404.
//   - A backend is the ready endpoints of its Service, by the Service
//     port's name in the EndpointSlices; with none, its routes answer 503
//     and the Ingress is told why (a Problem).
//   - Each TLS host takes the certificate of the oldest Ingress that
//     lists it. A Secret that is missing or not a valid key pair leaves
//     its hosts without TLS: no certificate, and no redirect to HTTPS.
package routing

import (
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Match is how a path matches a request's path.
type Match int

const (
	// Prefix matches the path and every path below it, element-wise.
	Prefix Match = iota
	// Exact matches the path only, case-sensitively.
	Exact
)

func (m Match) String() string {
	if m == Exact {
		return "Exact"
	}
	return "Prefix"
}

// Table is everything the proxy serves.
type Table struct {
	// Hosts are the hosts some rule names, in the order they are tried:
	// exact names, then wildcards, each sorted.
	Hosts []Host
	// Default holds the rules without a host and the default backend: it
	// serves every request whose host no Host matches.
	Default Host
	// Certificates are the valid certificates of TLS hosts, sorted by tag.
	Certificates []Certificate
}

// Host is the routes of one host.
type Host struct {
	// Name is the host ("a.example.com", "*.example.com"); empty for
	// Default.
	Name string
	// TLS is set when a valid certificate serves Name: plain HTTP
	// requests for it are redirected to HTTPS.
	TLS bool
	// Paths in the order they are tried.
	Paths []Path
	// Fallback serves requests no path matches; nil answers 404.
	Fallback *Backend
}

// Path is one path rule.
type Path struct {
	// Path as the Ingress spells it.
	Path  string
	Match Match
	// Backend serves the requests the path matches.
	Backend Backend
}

// Backend is where requests go.
type Backend struct {
	// Service is "namespace/name:port" as the Ingress names it, for logs
	// and comments.
	Service string
	// Upstreams are the addresses to proxy to ("10.244.1.5:8080"), round
	// robin; none means the backend is unavailable (503).
	Upstreams []string
}

// Certificate is a key pair from a TLS Secret.
type Certificate struct {
	// Tag names the Secret, "namespace/name"; the proxy selects the
	// certificate of a host by it.
	Tag string
	// CertPEM and KeyPEM are the Secret's tls.crt and tls.key.
	CertPEM, KeyPEM string
	// Hosts are the server names the certificate serves, sorted.
	Hosts []string
}

// Problem is something wrong with an Ingress that its users should be
// told of (as a Warning event).
type Problem struct {
	Reason  string
	Message string
}

// Reasons of Problems, as event reasons.
const (
	ReasonServiceNotFound     = "ServiceNotFound"
	ReasonServicePortNotFound = "ServicePortNotFound"
	ReasonNoReadyEndpoints    = "NoReadyEndpoints"
	ReasonUnsupportedBackend  = "UnsupportedBackend"
	ReasonTLSSecretNotFound   = "TLSSecretNotFound"
	ReasonInvalidTLSSecret    = "InvalidTLSSecret"
)

// Lookup reads the objects an Ingress refers to; a false second result
// means the object does not exist.
type Lookup interface {
	Service(namespace, name string) (*corev1.Service, bool)
	// EndpointSlices are the slices of the Service namespace/name.
	EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice
	Secret(namespace, name string) (*corev1.Secret, bool)
}

// Build computes the route table of ingresses (those the controller
// serves, in any order) and each Ingress's problems, keyed
// "namespace/name".
func Build(ingresses []*networkingv1.Ingress, lookup Lookup) (*Table, map[string][]Problem) {
	b := &builder{
		lookup:   lookup,
		hosts:    map[string]*hostRoutes{},
		problems: map[string][]Problem{},
		backends: map[string]backendResult{},
		tlsHosts: map[string]string{},
		certs:    map[string]certResult{},
	}
	sorted := append([]*networkingv1.Ingress(nil), ingresses...)
	sort.SliceStable(sorted, func(i, j int) bool { return older(sorted[i], sorted[j]) })
	for _, ing := range sorted {
		b.addRules(ing)
	}
	for _, ing := range sorted {
		b.addTLS(ing)
	}
	return b.table(), b.problems
}

// older orders Ingresses oldest first, by name when created in the same
// second, so that conflicts are always settled the same way.
func older(a, b *networkingv1.Ingress) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return key(a) < key(b)
}

func key(ing *networkingv1.Ingress) string { return ing.Namespace + "/" + ing.Name }

type builder struct {
	lookup Lookup
	// hosts by name; "" holds the rules without a host.
	hosts map[string]*hostRoutes
	// defaultBackend is the oldest Ingress's defaultBackend.
	defaultBackend *Backend
	problems       map[string][]Problem
	// backends caches resolved backends by "namespace/service:port".
	backends map[string]backendResult
	// tlsHosts is the Secret ("namespace/name") each TLS host takes its
	// certificate from; certs the key pairs by Secret.
	tlsHosts map[string]string
	certs    map[string]certResult
}

type certResult struct {
	cert    *Certificate // nil when the Secret is missing or invalid
	problem *Problem
}

type hostRoutes struct {
	paths    []Path
	seen     map[pathKey]bool
	fallback *Backend
}

type pathKey struct {
	path  string
	match Match
}

type backendResult struct {
	backend Backend
	problem *Problem
}

func (b *builder) host(name string) *hostRoutes {
	h, ok := b.hosts[name]
	if !ok {
		h = &hostRoutes{seen: map[pathKey]bool{}}
		b.hosts[name] = h
	}
	return h
}

func (b *builder) addRules(ing *networkingv1.Ingress) {
	var def *Backend
	if ing.Spec.DefaultBackend != nil {
		be := b.backend(ing, ing.Spec.DefaultBackend)
		def = &be
		if b.defaultBackend == nil {
			b.defaultBackend = def
		}
	}
	for _, rule := range ing.Spec.Rules {
		h := b.host(rule.Host)
		if rule.Host != "" && def != nil && h.fallback == nil {
			h.fallback = def
		}
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			match := Prefix
			if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
				match = Exact
			}
			path := p.Path
			if path == "" {
				// Only ImplementationSpecific may omit the path; it then
				// means every path.
				path = "/"
			}
			k := pathKey{path, match}
			if h.seen[k] {
				continue
			}
			h.seen[k] = true
			h.paths = append(h.paths, Path{Path: path, Match: match, Backend: b.backend(ing, &p.Backend)})
		}
	}
}

// backend resolves an Ingress backend to its upstreams, recording a
// problem on ing when it has none.
func (b *builder) backend(ing *networkingv1.Ingress, ib *networkingv1.IngressBackend) Backend {
	var r backendResult
	if ib.Service == nil {
		kind := "a resource"
		if ib.Resource != nil {
			kind = fmt.Sprintf("resource %s %q", ib.Resource.Kind, ib.Resource.Name)
		}
		r = backendResult{problem: &Problem{Reason: ReasonUnsupportedBackend,
			Message: fmt.Sprintf("backend %s is not supported, only Services: its routes answer 503", kind)}}
	} else {
		port := portString(ib.Service.Port)
		k := ing.Namespace + "/" + ib.Service.Name + ":" + port
		cached, ok := b.backends[k]
		if !ok {
			cached = b.resolve(ing.Namespace, ib.Service)
			cached.backend.Service = k
			b.backends[k] = cached
		}
		r = cached
	}
	if r.problem != nil {
		b.addProblem(key(ing), *r.problem)
	}
	return r.backend
}

func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

func (b *builder) resolve(namespace string, sb *networkingv1.IngressServiceBackend) backendResult {
	svcKey := namespace + "/" + sb.Name
	svc, ok := b.lookup.Service(namespace, sb.Name)
	if !ok {
		return backendResult{problem: &Problem{Reason: ReasonServiceNotFound,
			Message: fmt.Sprintf("service %q not found: its routes answer 503", svcKey)}}
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (sb.Port.Name != "" && p.Name == sb.Port.Name) || (sb.Port.Name == "" && p.Port == sb.Port.Number) {
			sp = p
			break
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// An ExternalName Service has no endpoints: proxy to the name,
		// on the port the Ingress names (by number) or the Service does.
		port := sb.Port.Number
		if sp != nil {
			port = sp.Port
		}
		if port == 0 {
			return backendResult{problem: &Problem{Reason: ReasonServicePortNotFound,
				Message: fmt.Sprintf("service %q has no port %s: its routes answer 503", svcKey, portString(sb.Port))}}
		}
		return backendResult{backend: Backend{Upstreams: []string{net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port)))}}}
	}
	if sp == nil {
		return backendResult{problem: &Problem{Reason: ReasonServicePortNotFound,
			Message: fmt.Sprintf("service %q has no port %s: its routes answer 503", svcKey, portString(sb.Port))}}
	}
	upstreams := ReadyUpstreams(b.lookup.EndpointSlices(namespace, sb.Name), sp.Name)
	if len(upstreams) == 0 {
		return backendResult{problem: &Problem{Reason: ReasonNoReadyEndpoints,
			Message: fmt.Sprintf("service %q has no ready endpoints: its routes answer 503", svcKey)}}
	}
	return backendResult{backend: Backend{Upstreams: upstreams}}
}

// ReadyUpstreams is the "ip:port" of every ready endpoint of slices on
// the TCP port named portName (a Service port's name, "" when it has
// none), sorted, each once. An endpoint whose readiness is unknown
// counts as ready, as the EndpointSlice API says.
func ReadyUpstreams(slices []*discoveryv1.EndpointSlice, portName string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			tcp := p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP
			if name == portName && tcp && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				a := net.JoinHostPort(addr, strconv.Itoa(int(port)))
				if !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func (b *builder) addProblem(ingKey string, p Problem) {
	for _, q := range b.problems[ingKey] {
		if q == p {
			return
		}
	}
	b.problems[ingKey] = append(b.problems[ingKey], p)
}

func (b *builder) addTLS(ing *networkingv1.Ingress) {
	for _, t := range ing.Spec.TLS {
		if t.SecretName == "" {
			continue
		}
		hosts := t.Hosts
		if len(hosts) == 0 {
			// An entry without hosts serves the Ingress's own hosts.
			for _, r := range ing.Spec.Rules {
				if r.Host != "" {
					hosts = append(hosts, r.Host)
				}
			}
		}
		secretKey := ing.Namespace + "/" + t.SecretName
		cert := b.certificate(ing, secretKey, t.SecretName)
		for _, h := range hosts {
			if _, taken := b.tlsHosts[h]; taken {
				continue
			}
			b.tlsHosts[h] = secretKey
			if cert != nil {
				cert.Hosts = append(cert.Hosts, h)
			}
		}
	}
}

// certificate is the key pair of the Secret, nil (with a problem on ing)
// when it is missing or not a valid pair. Every Ingress that uses a
// broken Secret is told, not only the first.
func (b *builder) certificate(ing *networkingv1.Ingress, secretKey, name string) *Certificate {
	r, ok := b.certs[secretKey]
	if !ok {
		r.cert, r.problem = b.loadCertificate(ing.Namespace, name, secretKey)
		b.certs[secretKey] = r
	}
	if r.problem != nil {
		b.addProblem(key(ing), *r.problem)
	}
	return r.cert
}

func (b *builder) loadCertificate(namespace, name, secretKey string) (*Certificate, *Problem) {
	s, ok := b.lookup.Secret(namespace, name)
	if !ok {
		return nil, &Problem{Reason: ReasonTLSSecretNotFound,
			Message: fmt.Sprintf("TLS secret %q not found: its hosts are not served over HTTPS", secretKey)}
	}
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return nil, &Problem{Reason: ReasonInvalidTLSSecret,
			Message: fmt.Sprintf("TLS secret %q is not a valid key pair (%v): its hosts are not served over HTTPS", secretKey, err)}
	}
	return &Certificate{Tag: secretKey, CertPEM: string(crt), KeyPEM: string(key)}, nil
}

func (b *builder) table() *Table {
	t := &Table{}
	for name, h := range b.hosts {
		if name == "" {
			continue
		}
		fallback := h.fallback
		if fallback == nil {
			fallback = b.defaultBackend
		}
		secret, hasTLS := b.tlsHosts[name]
		hasTLS = hasTLS && b.certs[secret].cert != nil
		t.Hosts = append(t.Hosts, Host{Name: name, TLS: hasTLS, Paths: ordered(h.paths), Fallback: fallback})
	}
	sort.Slice(t.Hosts, func(i, j int) bool {
		wi, wj := IsWildcard(t.Hosts[i].Name), IsWildcard(t.Hosts[j].Name)
		if wi != wj {
			return !wi
		}
		return t.Hosts[i].Name < t.Hosts[j].Name
	})
	t.Default = Host{Fallback: b.defaultBackend}
	if h, ok := b.hosts[""]; ok {
		t.Default.Paths = ordered(h.paths)
	}
	for _, r := range b.certs {
		if c := r.cert; c != nil && len(c.Hosts) > 0 {
			sort.Strings(c.Hosts)
			t.Certificates = append(t.Certificates, *c)
		}
	}
	sort.Slice(t.Certificates, func(i, j int) bool { return t.Certificates[i].Tag < t.Certificates[j].Tag })
	return t
}

// IsWildcard reports whether host is a wildcard ("*.example.com").
func IsWildcard(host string) bool { return strings.HasPrefix(host, "*.") }

// ordered sorts paths into the order they are tried: the longest first,
// so that the longest matching path wins; Exact before Prefix at the same
// length, as the Ingress API says; then by path, for a stable order.
func ordered(paths []Path) []Path {
	out := append([]Path(nil), paths...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if len(a.Path) != len(b.Path) {
			return len(a.Path) > len(b.Path)
		}
		if a.Match != b.Match {
			return a.Match == Exact
		}
		return a.Path < b.Path
	})
	return out
}
