package cidrset

import (
	"errors"
	"net"
	"testing"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, c, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSet(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		mask    int
		do      func(t *testing.T, s *Set) string
		want    string
	}{
		{"first allocation is the first CIDR", "10.244.0.0/16", 24, func(t *testing.T, s *Set) string {
			c, _ := s.Allocate()
			return c.String()
		}, "10.244.0.0/24"},
		{"occupied CIDRs are skipped", "10.244.0.0/16", 24, func(t *testing.T, s *Set) string {
			_ = s.Occupy(mustCIDR(t, "10.244.0.0/24"))
			_ = s.Occupy(mustCIDR(t, "10.244.1.0/24"))
			c, _ := s.Allocate()
			return c.String()
		}, "10.244.2.0/24"},
		{"released CIDRs are reused", "10.244.0.0/16", 24, func(t *testing.T, s *Set) string {
			a, _ := s.Allocate()
			_, _ = s.Allocate()
			_ = s.Release(a)
			c, _ := s.Allocate()
			return c.String()
		}, "10.244.0.0/24"},
		{"exhaustion is ErrFull", "10.0.0.0/30", 31, func(t *testing.T, s *Set) string {
			_, _ = s.Allocate()
			_, _ = s.Allocate()
			_, err := s.Allocate()
			if !errors.Is(err, ErrFull) {
				return "no ErrFull"
			}
			return "full"
		}, "full"},
		{"outside the cluster CIDR is refused", "10.244.0.0/16", 24, func(t *testing.T, s *Set) string {
			if err := s.Occupy(mustCIDR(t, "10.1.0.0/24")); err == nil {
				return "accepted"
			}
			return "refused"
		}, "refused"},
		{"a larger CIDR occupies all it covers", "10.244.0.0/16", 24, func(t *testing.T, s *Set) string {
			_ = s.Occupy(mustCIDR(t, "10.244.0.0/23"))
			c, _ := s.Allocate()
			return c.String()
		}, "10.244.2.0/24"},
		{"IPv6", "fd00:10:244::/56", 64, func(t *testing.T, s *Set) string {
			_, _ = s.Allocate()
			c, _ := s.Allocate()
			return c.String()
		}, "fd00:10:244:1::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(mustCIDR(t, tt.cluster), tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.do(t, s); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
