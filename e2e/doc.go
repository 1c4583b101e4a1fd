// Package e2e holds Coracle's end-to-end tests: they start the built
// binaries ($CORACLE_BIN_DIR, filled by make build, or built for the run
// when it is unset) and Debian's etcd as real processes on loopback, and
// drive them as a user would, with the real kubectl and with client-go.
// The apiserver is started with coracle.dev/shared/testserver, the etcd
// clusters with package framework.
package e2e
