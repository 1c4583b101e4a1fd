// Package proxyconfig writes a route table as Caddy's JSON configuration:
// the pure translation from what the Ingresses say to what Caddy runs.
// It builds the configuration from Caddy's own Go types, so a field Caddy
// renames fails the build rather than the proxy.
//
// The configuration has two servers, "http" and "https". Both try the
// hosts in the table's order, each host's paths in order (the first match
// answers), then the host's fallback; the rules without a host come
// last. The http server first redirects hosts that have a certificate to
// HTTPS (308). The https server picks a host's certificate by SNI and the
// Secret's tag; a handshake for any other name is dropped, so a host
// whose Secret is broken is refused rather than served with another
// certificate. Caddy's automatic HTTPS (ACME, its own redirects) and its
// admin API are off; its storage is a directory of ours.
package proxyconfig

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/caddy/v2/modules/filestorage"

	"coracle.dev/addons/ingress/internal/routing"
)

// Options are the parts of Caddy's configuration that do not come from
// Ingresses.
type Options struct {
	// HTTPAddress and HTTPSAddress are where the servers listen
	// (":80", "127.0.0.1:8443").
	HTTPAddress, HTTPSAddress string
	// StorageDir is Caddy's storage (certmagic's locks and caches); with
	// certificates from Secrets and no ACME, nothing is meant to be
	// written there.
	StorageDir string
	// DrainTimeout bounds how long connections of a replaced
	// configuration may finish: requests in flight and upgraded streams
	// (WebSockets) alike.
	DrainTimeout time.Duration
	// LogCore is the caddy.logging.cores module Caddy's logs go to; empty
	// leaves Caddy's default log (stderr).
	LogCore string
	// ConnTracker is a caddy.listeners module wrapped around the
	// servers' listeners, below TLS; empty for none.
	ConnTracker string
	// AccessLog logs every request.
	AccessLog bool
}

// Response bodies of the answers the proxy gives itself, as ingress-nginx
// gives them.
const (
	NotFoundBody    = "default backend - 404\n"
	UnavailableBody = "503 Service Temporarily Unavailable\n"
)

// Build returns Caddy's configuration for t.
func Build(t *routing.Table, o Options) ([]byte, error) {
	httpsPort, err := port(o.HTTPSAddress)
	if err != nil {
		return nil, fmt.Errorf("https address %q: %w", o.HTTPSAddress, err)
	}
	if _, err := port(o.HTTPAddress); err != nil {
		return nil, fmt.Errorf("http address %q: %w", o.HTTPAddress, err)
	}
	var warnings []caddyconfig.Warning
	b := &builder{o: o, warnings: &warnings}
	routes := b.routes(t)

	httpServer := &caddyhttp.Server{
		Listen:    []string{o.HTTPAddress},
		Routes:    append(b.redirects(t, httpsPort), routes...),
		AutoHTTPS: &caddyhttp.AutoHTTPSConfig{Disabled: true},
		Protocols: []string{"h1"},
	}
	httpsServer := &caddyhttp.Server{
		Listen:          []string{o.HTTPSAddress},
		Routes:          routes,
		AutoHTTPS:       &caddyhttp.AutoHTTPSConfig{Disabled: true},
		Protocols:       []string{"h1", "h2"},
		TLSConnPolicies: b.connectionPolicies(t),
	}
	if o.ConnTracker != "" {
		tracker := caddyconfig.JSONModuleObject(struct{}{}, "wrapper", o.ConnTracker, b.warnings)
		httpServer.ListenerWrappersRaw = []json.RawMessage{tracker}
		// TLS comes after the tracker, so the server still sees the
		// TLS connections.
		httpsServer.ListenerWrappersRaw = []json.RawMessage{tracker,
			caddyconfig.JSONModuleObject(struct{}{}, "wrapper", "tls", b.warnings)}
	}
	if o.AccessLog {
		httpServer.Logs = &caddyhttp.ServerLogConfig{}
		httpsServer.Logs = &caddyhttp.ServerLogConfig{}
	}
	httpApp := caddyhttp.App{
		GracePeriod: caddy.Duration(o.DrainTimeout),
		Servers:     map[string]*caddyhttp.Server{"http": httpServer, "https": httpsServer},
	}
	tlsApp := caddytls.TLS{
		// No ACME, no OCSP responders and no shared storage to tidy:
		// every certificate comes from a Secret.
		DisableOCSPStapling: true,
		DisableStorageCheck: true,
		DisableStorageClean: true,
	}
	if len(t.Certificates) > 0 {
		var pems caddytls.PEMLoader
		for _, c := range t.Certificates {
			pems = append(pems, caddytls.CertKeyPEMPair{CertificatePEM: c.CertPEM, KeyPEM: c.KeyPEM, Tags: []string{c.Tag}})
		}
		tlsApp.CertificatesRaw = caddy.ModuleMap{"load_pem": caddyconfig.JSON(pems, b.warnings)}
	}
	cfg := caddy.Config{
		Admin: &caddy.AdminConfig{Disabled: true, Config: &caddy.ConfigSettings{Persist: new(bool)}},
		StorageRaw: caddyconfig.JSONModuleObject(filestorage.FileStorage{Root: o.StorageDir},
			"module", "file_system", b.warnings),
		AppsRaw: caddy.ModuleMap{
			"http": caddyconfig.JSON(httpApp, b.warnings),
			"tls":  caddyconfig.JSON(tlsApp, b.warnings),
		},
	}
	if o.LogCore != "" {
		// Caddy's own log discards; the core module tees every entry
		// into the controller's logger, which filters by its level.
		cfg.Logging = &caddy.Logging{Logs: map[string]*caddy.CustomLog{"default": {BaseLog: caddy.BaseLog{
			WriterRaw: caddyconfig.JSONModuleObject(struct{}{}, "output", "discard", b.warnings),
			CoreRaw:   caddyconfig.JSONModuleObject(struct{}{}, "module", o.LogCore, b.warnings),
			Level:     "DEBUG",
		}}}}
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("caddy config: %s", warnings[0].String())
	}
	return json.Marshal(cfg)
}

func port(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

type builder struct {
	o        Options
	warnings *[]caddyconfig.Warning
}

// routes are the routes both servers share: the hosts, then the rules
// without a host.
func (b *builder) routes(t *routing.Table) caddyhttp.RouteList {
	var out caddyhttp.RouteList
	for _, h := range t.Hosts {
		out = append(out, caddyhttp.Route{
			MatcherSetsRaw: caddyhttp.RawMatcherSets{{"host": caddyconfig.JSON(caddyhttp.MatchHost{h.Name}, b.warnings)}},
			HandlersRaw:    []json.RawMessage{b.subroute(h)},
			Terminal:       true,
		})
	}
	out = append(out, caddyhttp.Route{HandlersRaw: []json.RawMessage{b.subroute(t.Default)}, Terminal: true})
	return out
}

// subroute tries a host's paths in order, then its fallback.
func (b *builder) subroute(h routing.Host) json.RawMessage {
	var routes caddyhttp.RouteList
	for _, p := range h.Paths {
		r := caddyhttp.Route{HandlersRaw: []json.RawMessage{b.backend(&p.Backend)}, Terminal: true}
		if re := PathPattern(p.Path, p.Match); re != "" {
			r.MatcherSetsRaw = caddyhttp.RawMatcherSets{{"path_regexp": caddyconfig.JSON(
				caddyhttp.MatchPathRE{MatchRegexp: caddyhttp.MatchRegexp{Pattern: re}}, b.warnings)}}
		}
		routes = append(routes, r)
	}
	routes = append(routes, caddyhttp.Route{HandlersRaw: []json.RawMessage{b.backend(h.Fallback)}, Terminal: true})
	return caddyconfig.JSONModuleObject(caddyhttp.Subroute{Routes: routes}, "handler", "subroute", b.warnings)
}

// PathPattern is the regular expression a request's cleaned path must
// match for an Ingress path, "" for one that matches every path.
// Caddy's path matcher ignores case and matches prefixes by string, so
// paths are matched as regular expressions: case-sensitively, as the
// Ingress API says, and a Prefix path element by element (/foo matches
// /foo, /foo/ and /foo/bar, not /foobar; a trailing slash of the
// Ingress path does not count).
func PathPattern(path string, m routing.Match) string {
	if m == routing.Exact {
		return "^" + regexp.QuoteMeta(path) + "$"
	}
	p := strings.TrimRight(path, "/")
	if p == "" {
		return ""
	}
	// (?s): a path may hold a decoded newline, which "." must match too.
	return "(?s)^" + regexp.QuoteMeta(p) + "(?:/.*)?$"
}

// backend answers with be: 404 when nil, 503 when it has no upstreams,
// else proxies round robin to its upstreams.
func (b *builder) backend(be *routing.Backend) json.RawMessage {
	switch {
	case be == nil:
		return b.static(http.StatusNotFound, NotFoundBody, nil)
	case len(be.Upstreams) == 0:
		return b.static(http.StatusServiceUnavailable, UnavailableBody, nil)
	}
	h := reverseproxy.Handler{
		LoadBalancing: &reverseproxy.LoadBalancing{
			SelectionPolicyRaw: caddyconfig.JSONModuleObject(struct{}{}, "policy", "round_robin", b.warnings),
		},
		// Caddy sets X-Forwarded-For, -Proto and -Host itself (it trusts
		// no proxy in front, so a client cannot forge them); these two
		// are ingress-nginx's.
		Headers: &headers.Handler{Request: &headers.HeaderOps{Set: http.Header{
			"X-Real-Ip":        {"{http.request.remote.host}"},
			"X-Forwarded-Port": {"{http.request.local.port}"},
		}}},
		// A reload closes the old configuration's upgraded streams
		// (WebSockets) only after this, so they outlive a change.
		StreamCloseDelay: caddy.Duration(b.o.DrainTimeout),
	}
	for _, u := range be.Upstreams {
		h.Upstreams = append(h.Upstreams, &reverseproxy.Upstream{Dial: u})
	}
	return caddyconfig.JSONModuleObject(h, "handler", "reverse_proxy", b.warnings)
}

func (b *builder) static(code int, body string, hdr http.Header) json.RawMessage {
	if hdr == nil {
		hdr = http.Header{}
	}
	if body != "" {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
	}
	return caddyconfig.JSONModuleObject(caddyhttp.StaticResponse{
		StatusCode: caddyhttp.WeakString(strconv.Itoa(code)), Headers: hdr, Body: body,
	}, "handler", "static_response", b.warnings)
}

// redirects send plain HTTP requests for hosts with a certificate to
// HTTPS, with 308 (Permanent Redirect) as ingress-nginx does, which keeps
// the method and body.
func (b *builder) redirects(t *routing.Table, httpsPort int) caddyhttp.RouteList {
	var hosts caddyhttp.MatchHost
	for _, h := range t.Hosts {
		if h.TLS {
			hosts = append(hosts, h.Name)
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	target := "https://{http.request.host}"
	if httpsPort != 443 {
		target += ":" + strconv.Itoa(httpsPort)
	}
	target += "{http.request.uri}"
	return caddyhttp.RouteList{{
		MatcherSetsRaw: caddyhttp.RawMatcherSets{{"host": caddyconfig.JSON(hosts, b.warnings)}},
		HandlersRaw:    []json.RawMessage{b.static(http.StatusPermanentRedirect, "", http.Header{"Location": {target}})},
		Terminal:       true,
	}}
}

// connectionPolicies serve each certificate to the names it is for and
// drop every other handshake.
func (b *builder) connectionPolicies(t *routing.Table) caddytls.ConnectionPolicies {
	var out caddytls.ConnectionPolicies
	for _, c := range t.Certificates {
		out = append(out, &caddytls.ConnectionPolicy{
			MatchersRaw:   caddy.ModuleMap{"sni": caddyconfig.JSON(caddytls.MatchServerName(c.Hosts), b.warnings)},
			CertSelection: &caddytls.CustomCertSelectionPolicy{AnyTag: []string{c.Tag}},
		})
	}
	// The last policy matches every handshake the others did not: with
	// none left, Caddy would serve plain HTTP on the HTTPS port.
	return append(out, &caddytls.ConnectionPolicy{Drop: true})
}
