// Package cidrset cuts a cluster CIDR into equal node CIDRs and tracks
// which are taken: allocate the lowest free one, occupy one a node
// already has, release one a deleted node had. IPv4 and IPv6.
package cidrset

import (
	"errors"
	"fmt"
	"math/big"
	"net"
)

// ErrFull is returned when every node CIDR is taken.
var ErrFull = errors.New("no node CIDR left in the cluster CIDR")

// Set is the node CIDRs of one cluster CIDR. It is not safe for
// concurrent use.
type Set struct {
	base     *big.Int // first address of the cluster CIDR
	bits     int      // 32 or 128
	cluster  *net.IPNet
	maskSize int
	total    int
	used     []bool
	count    int
}

// New cuts cluster into CIDRs of prefix length maskSize; at most 65536.
func New(cluster *net.IPNet, maskSize int) (*Set, error) {
	ones, bits := cluster.Mask.Size()
	if maskSize < ones || maskSize > bits {
		return nil, fmt.Errorf("node mask size %d must be between %d and %d", maskSize, ones, bits)
	}
	if maskSize-ones > 16 {
		return nil, fmt.Errorf("node mask size %d cuts %s into more than 65536 CIDRs", maskSize, cluster)
	}
	total := 1 << (maskSize - ones)
	return &Set{
		base: ipToInt(cluster.IP), bits: bits, cluster: cluster, maskSize: maskSize,
		total: total, used: make([]bool, total),
	}, nil
}

func ipToInt(ip net.IP) *big.Int {
	if v4 := ip.To4(); v4 != nil {
		return new(big.Int).SetBytes(v4)
	}
	return new(big.Int).SetBytes(ip.To16())
}

func (s *Set) intToIP(i *big.Int) net.IP {
	n := s.bits / 8
	b := i.Bytes()
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return net.IP(out)
}

func (s *Set) cidr(index int) *net.IPNet {
	step := new(big.Int).Lsh(big.NewInt(int64(index)), uint(s.bits-s.maskSize))
	ip := s.intToIP(new(big.Int).Add(s.base, step))
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(s.maskSize, s.bits)}
}

// Allocate takes the lowest free node CIDR.
func (s *Set) Allocate() (*net.IPNet, error) {
	for i := 0; i < s.total; i++ {
		if !s.used[i] {
			s.used[i] = true
			s.count++
			return s.cidr(i), nil
		}
	}
	return nil, ErrFull
}

// indexes returns the node CIDRs cidr overlaps.
func (s *Set) indexes(cidr *net.IPNet) (int, int, error) {
	ones, bits := cidr.Mask.Size()
	if bits != s.bits || !s.cluster.Contains(cidr.IP) {
		return 0, 0, fmt.Errorf("%s is not inside the cluster CIDR %s", cidr, s.cluster)
	}
	start := new(big.Int).Sub(ipToInt(cidr.IP.Mask(cidr.Mask)), s.base)
	first := int(new(big.Int).Rsh(start, uint(s.bits-s.maskSize)).Int64())
	if ones >= s.maskSize {
		return first, first, nil
	}
	return first, min(first+(1<<(s.maskSize-ones))-1, s.total-1), nil
}

// Occupy marks cidr (and every node CIDR it overlaps) as taken.
func (s *Set) Occupy(cidr *net.IPNet) error {
	a, b, err := s.indexes(cidr)
	if err != nil {
		return err
	}
	for i := a; i <= b; i++ {
		if !s.used[i] {
			s.used[i] = true
			s.count++
		}
	}
	return nil
}

// Release marks cidr (and every node CIDR it overlaps) as free.
func (s *Set) Release(cidr *net.IPNet) error {
	a, b, err := s.indexes(cidr)
	if err != nil {
		return err
	}
	for i := a; i <= b; i++ {
		if s.used[i] {
			s.used[i] = false
			s.count--
		}
	}
	return nil
}

// Used is how many node CIDRs are taken.
func (s *Set) Used() int { return s.count }
