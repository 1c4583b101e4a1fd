// Package integration holds the apiserver's integration tests: each starts a
// real apiserver with a real embedded etcd on loopback (internal/servertest)
// and drives it over HTTPS with client-go or raw HTTP, as any client would.
package integration
