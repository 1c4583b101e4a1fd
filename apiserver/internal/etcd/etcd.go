// Package etcd connects the apiserver to its etcd: an embedded member in
// the apiserver's data directory when no servers are given, else an
// external cluster. Package etcdstore keeps the API objects in it.
//
// The embedded member speaks only TLS, on its client and peer URLs alike,
// and takes only clients with a certificate from its own CA, which is
// created in the data directory with the member's certificates and the
// apiserver's client certificate (EnsureCertificates): another process on
// the host can neither read nor write the cluster's data through it.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Options select embedded or external etcd.
type Options struct {
	// Servers are external etcd client URLs; empty starts an embedded etcd.
	Servers []string
	// CAFile, CertFile, KeyFile secure the connection to external servers.
	CAFile, CertFile, KeyFile string

	// DataDir holds the embedded member's data (DataDir/etcd).
	DataDir string
	// ClientURL and PeerURL are the embedded member's loopback listeners.
	// They are served with TLS whatever their scheme: an http:// URL is
	// taken as https://.
	ClientURL string
	PeerURL   string

	Log *zap.Logger
}

// Etcd is a connected etcd, embedded or not.
type Etcd struct {
	Client    *clientv3.Client
	embedded  *embed.Etcd
	closeOnce sync.Once
}

// Start starts the embedded member (if any) and connects a client.
func Start(ctx context.Context, opts Options) (*Etcd, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	e := &Etcd{}
	endpoints := opts.Servers
	var tlsCfg *tls.Config
	if len(endpoints) == 0 {
		emb, clientURL, certs, err := startEmbedded(ctx, opts)
		if err != nil {
			return nil, err
		}
		e.embedded = emb
		endpoints = []string{clientURL}
		info := transport.TLSInfo{TrustedCAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}
		if tlsCfg, err = info.ClientConfig(); err != nil {
			e.Close()
			return nil, fmt.Errorf("embedded etcd client TLS: %w", err)
		}
	} else if opts.CAFile != "" || opts.CertFile != "" {
		info := transport.TLSInfo{TrustedCAFile: opts.CAFile, CertFile: opts.CertFile, KeyFile: opts.KeyFile}
		var err error
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcd client TLS: %w", err)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		TLS:                  tlsCfg,
		Logger:               quieter(opts.Log.Named("etcd-client")),
		MaxCallSendMsgSize:   8 << 20,
	})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	e.Client = client
	if err := e.waitHealthy(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// startEmbedded starts the member with TLS on both URLs and returns it,
// its client URL and the certificates a client presents.
func startEmbedded(ctx context.Context, opts Options) (*embed.Etcd, string, Certificates, error) {
	clientURL, err := tlsURL(opts.ClientURL, "client", opts.Log)
	if err != nil {
		return nil, "", Certificates{}, err
	}
	peerURL, err := tlsURL(opts.PeerURL, "peer", opts.Log)
	if err != nil {
		return nil, "", Certificates{}, err
	}
	certs, err := EnsureCertificates(opts.DataDir, []string{clientURL.Hostname(), peerURL.Hostname()})
	if err != nil {
		return nil, "", Certificates{}, fmt.Errorf("embedded etcd certificates: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "coracle"
	cfg.Dir = filepath.Join(opts.DataDir, "etcd")
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.ClientTLSInfo = transport.TLSInfo{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile,
		TrustedCAFile: certs.CAFile, ClientCertAuth: true,
	}
	cfg.PeerTLSInfo = transport.TLSInfo{
		CertFile: certs.PeerCertFile, KeyFile: certs.PeerKeyFile,
		TrustedCAFile: certs.CAFile, ClientCertAuth: true,
	}
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(quieter(opts.Log.Named("etcd")))
	cfg.LogLevel = "warn"
	cfg.ListenMetricsUrls = nil
	emb, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", Certificates{}, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-emb.Server.ReadyNotify():
		return emb, clientURL.String(), certs, nil
	case err := <-emb.Err():
		emb.Close()
		return nil, "", Certificates{}, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		emb.Server.Stop()
		emb.Close()
		return nil, "", Certificates{}, errors.New("embedded etcd did not become ready within 60s")
	case <-ctx.Done():
		emb.Close()
		return nil, "", Certificates{}, ctx.Err()
	}
}

// tlsURL parses an embedded listener's URL, turning http:// into
// https://: the member never serves in clear.
func tlsURL(raw, which string, log *zap.Logger) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd %s URL %q: %w", which, raw, err)
	}
	switch u.Scheme {
	case "https":
	case "http":
		u.Scheme = "https"
		log.Info("embedded etcd serves TLS only: using https", zap.String("listener", which), zap.String("given", raw), zap.String("url", u.String()))
	default:
		return nil, fmt.Errorf("embedded etcd %s URL %q: scheme must be https (or http, served as https)", which, raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("embedded etcd %s URL %q has no host", which, raw)
	}
	return u, nil
}

// waitHealthy waits until a read through the client succeeds.
func (e *Etcd) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := e.Healthy(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not reachable: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Healthy performs a quorum read, as /readyz's etcd check.
func (e *Etcd) Healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := e.Client.Get(ctx, "health")
	return err
}

// Close disconnects and stops the embedded member, if any. Calls after
// the first do nothing.
func (e *Etcd) Close() {
	e.closeOnce.Do(func() {
		if e.Client != nil {
			_ = e.Client.Close()
		}
		if e.embedded != nil {
			e.embedded.Close()
		}
	})
}

// quieter keeps etcd's own chatter to warnings and above, unless the logger
// is already stricter (raising a logger's level below its own is an error
// in zap).
func quieter(log *zap.Logger) *zap.Logger {
	if log.Core().Enabled(zap.InfoLevel) {
		return log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))
	}
	return log
}
