// Package e2e holds Coracle's end-to-end tests: they start the built
// binaries ($CORACLE_BIN_DIR, filled by make build) and Debian's etcd as
// real processes on loopback, and drive them as a user would, with the real
// kubectl and with client-go. See package framework for starting and
// stopping the processes.
package e2e
