package etcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"coracle.dev/shared/pki"
)

// start runs an embedded member in dataDir on fresh loopback ports with
// the given scheme, retrying when a port was taken meanwhile.
func start(t *testing.T, dataDir, scheme string) (*Etcd, Options) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		opts := Options{
			DataDir:   dataDir,
			ClientURL: scheme + "://" + freeAddr(t),
			PeerURL:   scheme + "://" + freeAddr(t),
			Log:       zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		e, err := Start(ctx, opts)
		cancel()
		if err == nil {
			t.Cleanup(e.Close)
			return e, opts
		}
		lastErr = err
	}
	t.Fatalf("start embedded etcd: %v", lastErr)
	return nil, Options{}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestEmbeddedTakesOnlyClientsWithItsCertificates starts the member with
// http:// URLs, as older configurations give them, and checks that it
// serves TLS, refuses clients without a certificate of its CA, and that
// the apiserver's client works.
func TestEmbeddedTakesOnlyClientsWithItsCertificates(t *testing.T) {
	dir := t.TempDir()
	e, opts := start(t, dir, "http")
	ctx := context.Background()
	if _, err := e.Client.Put(ctx, "/registry/secrets/ns/s", "value"); err != nil {
		t.Fatalf("apiserver client: %v", err)
	}
	host := hostOf(t, opts.ClientURL)
	peer := hostOf(t, opts.PeerURL)
	certs := certificates(dir)

	caPEM, err := os.ReadFile(certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	clientPair, err := tls.LoadX509KeyPair(certs.ClientCertFile, certs.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := pki.NewCA("someone-else")
	if err != nil {
		t.Fatal(err)
	}
	other, err := otherCA.Issue(pki.Request{CommonName: "intruder", Usage: pki.ClientUsage})
	if err != nil {
		t.Fatal(err)
	}
	otherPair := tls.Certificate{Certificate: [][]byte{other.Cert.Raw}, PrivateKey: other.Key}

	tests := []struct {
		name   string
		url    string
		tls    *tls.Config
		wantOK bool
	}{
		{name: "plain HTTP", url: "http://" + host + "/version"},
		{name: "TLS without a client certificate", url: "https://" + host + "/version",
			tls: &tls.Config{RootCAs: roots}},
		{name: "client certificate of another CA", url: "https://" + host + "/version",
			tls: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{otherPair}}},
		{name: "the apiserver's client certificate", url: "https://" + host + "/version",
			tls: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientPair}}, wantOK: true},
		{name: "peer URL in clear", url: "http://" + peer + "/members"},
		{name: "peer URL without a client certificate", url: "https://" + peer + "/members",
			tls: &tls.Config{RootCAs: roots}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tt.tls}}
			resp, err := c.Get(tt.url)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if resp != nil {
				resp.Body.Close()
			}
			if ok != tt.wantOK {
				t.Fatalf("GET %s: ok=%v (err %v), want ok=%v", tt.url, ok, err, tt.wantOK)
			}
		})
	}

	// An etcd client without a certificate reads nothing either.
	plain, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + host}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := plain.Get(rctx, "/registry/secrets/ns/s"); err == nil {
		t.Fatal("a plain etcd client read from the embedded member")
	}
}

// TestCertificatesSurviveRestart restarts a member in the same data
// directory: the certificates are reused and the data is still there.
func TestCertificatesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e, _ := start(t, dir, "https")
	if _, err := e.Client.Put(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, certificates(dir))
	e.Close()

	e2, _ := start(t, dir, "https")
	if after := readAll(t, certificates(dir)); !bytes.Equal(before, after) {
		t.Fatal("restart issued new certificates")
	}
	resp, err := e2.Client.Get(context.Background(), "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart: %v %v", resp, err)
	}
}

// TestClearDataDirRestartsWithTLS takes a data directory an embedded
// member wrote when it still served plain HTTP: the member now serves it
// with TLS, and its data reads back.
func TestClearDataDirRestartsWithTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := embed.NewConfig()
	cfg.Name = "coracle"
	cfg.Dir = filepath.Join(dir, "etcd")
	cu, _ := url.Parse("http://" + freeAddr(t))
	pu, _ := url.Parse("http://" + freeAddr(t))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	old, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Server.ReadyNotify():
	case <-time.After(time.Minute):
		t.Fatal("plain member not ready")
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{cu.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(context.Background(), "k", "from-before"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	old.Close()

	e, _ := start(t, dir, "http")
	resp, err := e.Client.Get(context.Background(), "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "from-before" {
		t.Fatalf("old data: %v %v", resp, err)
	}
}

func TestEnsureCertificates(t *testing.T) {
	dir := t.TempDir()
	c, err := EnsureCertificates(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := certificates(dir)
	if c != want {
		t.Fatalf("files %+v, want %+v", c, want)
	}
	ca, err := pki.Load(filepath.Join(dir, "pki", "etcd"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, certFile string, usage x509.ExtKeyUsage, host string) *x509.Certificate {
		t.Helper()
		kp, err := pki.Load(filepath.Dir(certFile), filepath.Base(certFile[:len(certFile)-len(".crt")]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s does not chain to the etcd CA for %v: %v", name, usage, err)
		}
		if host != "" {
			if err := kp.Cert.VerifyHostname(host); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		return kp.Cert
	}
	for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
		check("server", c.ServerCertFile, x509.ExtKeyUsageServerAuth, h)
		check("peer", c.PeerCertFile, x509.ExtKeyUsageServerAuth, h)
	}
	check("server as client", c.ServerCertFile, x509.ExtKeyUsageClientAuth, "")
	client := check("apiserver-etcd-client", c.ClientCertFile, x509.ExtKeyUsageClientAuth, "")
	if client.Subject.CommonName != ClientCommonName {
		t.Errorf("client CN %q", client.Subject.CommonName)
	}
	for _, f := range []string{c.ServerKeyFile, c.PeerKeyFile, c.ClientKeyFile, filepath.Join(dir, "pki", "etcd", "ca.key")} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}

	// Same hosts: nothing changes. A new host: the serving pairs are
	// issued again by the same CA, the client pair is kept.
	before := readAll(t, c)
	if _, err := EnsureCertificates(dir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, readAll(t, c)) {
		t.Fatal("certificates changed with the same hosts")
	}
	clientBefore, _ := os.ReadFile(c.ClientCertFile)
	caBefore, _ := os.ReadFile(c.CAFile)
	if _, err := EnsureCertificates(dir, []string{"10.1.2.3"}); err != nil {
		t.Fatal(err)
	}
	check("server for the new host", c.ServerCertFile, x509.ExtKeyUsageServerAuth, "10.1.2.3")
	if clientAfter, _ := os.ReadFile(c.ClientCertFile); !bytes.Equal(clientBefore, clientAfter) {
		t.Error("client certificate reissued for a new host")
	}
	if caAfter, _ := os.ReadFile(c.CAFile); !bytes.Equal(caBefore, caAfter) {
		t.Error("CA replaced")
	}
}

func TestTLSURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "http://127.0.0.1:12379", want: "https://127.0.0.1:12379"},
		{in: "https://127.0.0.1:12379", want: "https://127.0.0.1:12379"},
		{in: "unix:///tmp/etcd.sock", wantErr: true},
		{in: "https://", wantErr: true},
		{in: "://bad", wantErr: true},
	}
	for _, tt := range tests {
		u, err := tlsURL(tt.in, "client", zap.NewNop())
		if tt.wantErr {
			if err == nil {
				t.Errorf("tlsURL(%q) = %v, want an error", tt.in, u)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("tlsURL(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
		}
	}
}

func certificates(dir string) Certificates {
	p := filepath.Join(dir, "pki")
	return Certificates{
		CAFile:         filepath.Join(p, "etcd", "ca.crt"),
		ServerCertFile: filepath.Join(p, "etcd", "server.crt"), ServerKeyFile: filepath.Join(p, "etcd", "server.key"),
		PeerCertFile: filepath.Join(p, "etcd", "peer.crt"), PeerKeyFile: filepath.Join(p, "etcd", "peer.key"),
		ClientCertFile: filepath.Join(p, "apiserver-etcd-client.crt"), ClientKeyFile: filepath.Join(p, "apiserver-etcd-client.key"),
	}
}

func readAll(t *testing.T, c Certificates) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{c.CAFile, c.ServerCertFile, c.ServerKeyFile, c.PeerCertFile, c.PeerKeyFile, c.ClientCertFile, c.ClientKeyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
