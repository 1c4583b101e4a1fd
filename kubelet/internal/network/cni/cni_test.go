package cni

import "testing"

func TestBridgeMTU(t *testing.T) {
	for _, tt := range []struct {
		name string
		mtu  int
		want any
	}{
		{"no MTU leaves the kernel's default", 0, nil},
		{"an overlay's MTU is the pods'", 1450, 1450},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := New(Options{Bridge: "cni0", NetworkName: "coracle", StateDir: t.TempDir(), MTU: tt.mtu})
			if got := n.bridgePlugin("10.244.1.0/24")["mtu"]; got != tt.want {
				t.Errorf("bridge plugin mtu = %v, want %v", got, tt.want)
			}
		})
	}
}
