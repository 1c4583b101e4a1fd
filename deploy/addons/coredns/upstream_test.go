package main

import (
	"net"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// upstream is a DNS server on 127.0.0.1 standing in for the node's
// resolvers, which CoreDNS forwards names outside the cluster to: there
// is no internet here. It answers A questions for the names it holds and
// NXDOMAIN for the rest.
type upstream struct {
	addr string
	// queries counts the questions it was asked, so a test can tell an
	// answer it gave from one CoreDNS made up.
	queries atomic.Int64
	a       map[string]net.IP // FQDN -> address
}

// startUpstream serves a over UDP and TCP on one loopback port until the
// test ends.
func startUpstream(t *testing.T, a map[string]string) *upstream {
	t.Helper()
	u := &upstream{a: map[string]net.IP{}}
	for name, ip := range a {
		u.a[dns.Fqdn(name)] = net.ParseIP(ip)
	}
	var pc net.PacketConn
	var l net.Listener
	for range 5 {
		addr := freeAddrs(t, 1)[0]
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			continue
		}
		if l, err = net.Listen("tcp", addr); err != nil {
			pc.Close()
			continue
		}
		u.addr = addr
		break
	}
	if u.addr == "" {
		t.Fatal("upstream: no loopback port free for both UDP and TCP")
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: l, Handler: u}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// ServeDNS answers from u.a.
func (u *upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) == 1 {
		q := r.Question[0]
		ip, ok := u.a[dns.CanonicalName(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   ip,
			})
		}
	}
	_ = w.WriteMsg(m)
}
