// Package etcdtest starts a real embedded etcd for a test, on free loopback
// ports in the test's temporary directory, and stops it when the test ends.
package etcdtest

import (
	"context"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"coracle.dev/apiserver/internal/etcd"
)

// Start returns a client of a fresh single-member etcd.
func Start(t testing.TB) *clientv3.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		e, err := etcd.Start(ctx, etcd.Options{
			DataDir:   t.TempDir(),
			ClientURL: "https://" + freeAddr(t),
			PeerURL:   "https://" + freeAddr(t),
			Log:       zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
		})
		if err != nil {
			lastErr = err
			continue
		}
		t.Cleanup(e.Close)
		return e.Client
	}
	t.Fatalf("etcdtest: %v", lastErr)
	return nil
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
