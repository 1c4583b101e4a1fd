// Package eviction is the kubelet's node-pressure eviction, as Kubernetes'
// eviction manager (pkg/kubelet/eviction): it observes the node's
// signals (memory.available, allocatableMemory.available,
// nodefs.available, nodefs.inodesFree, imagefs.available,
// imagefs.inodesFree, pid.available), compares them with the hard and
// soft thresholds of --eviction-hard and --eviction-soft, reports the
// node's MemoryPressure, DiskPressure and PIDPressure conditions,
// reclaims what the node itself can (unused images) and otherwise evicts
// one pod per round, ranked as upstream ranks them. Its Admit refuses new
// pods while the node is under pressure.
package eviction

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Signal is something the manager observes on the node, named as
// upstream's eviction signals.
type Signal string

// The signals.
const (
	// SignalMemoryAvailable is the node's memory capacity less the root
	// memory cgroup's working set.
	SignalMemoryAvailable Signal = "memory.available"
	// SignalAllocatableMemoryAvailable is the node's allocatable memory
	// less the working set of the pods' cgroup. It is derived: with
	// --enforce-node-allocatable=pods it is evaluated against the hard
	// memory.available threshold.
	SignalAllocatableMemoryAvailable Signal = "allocatableMemory.available"
	// SignalNodeFsAvailable and SignalNodeFsInodesFree are the free
	// bytes and inodes of the file system of the kubelet's root dir.
	SignalNodeFsAvailable  Signal = "nodefs.available"
	SignalNodeFsInodesFree Signal = "nodefs.inodesFree"
	// SignalImageFsAvailable and SignalImageFsInodesFree are those of
	// the file system of the image store.
	SignalImageFsAvailable  Signal = "imagefs.available"
	SignalImageFsInodesFree Signal = "imagefs.inodesFree"
	// SignalPIDAvailable is pid_max less the processes running.
	SignalPIDAvailable Signal = "pid.available"
)

// Resources the manager reclaims besides v1's, as upstream names them in
// its messages.
const (
	resourceInodes v1.ResourceName = "inodes"
	resourcePids   v1.ResourceName = "pids"
	// reservedPID is the process IDs --system-reserved and
	// --kube-reserved hold back.
	reservedPID v1.ResourceName = "pid"
)

// signalToResource maps a signal to the resource it measures; the
// signals a flag may name are its keys.
var signalToResource = map[Signal]v1.ResourceName{
	SignalMemoryAvailable:            v1.ResourceMemory,
	SignalAllocatableMemoryAvailable: v1.ResourceMemory,
	SignalNodeFsAvailable:            v1.ResourceEphemeralStorage,
	SignalNodeFsInodesFree:           resourceInodes,
	SignalImageFsAvailable:           v1.ResourceEphemeralStorage,
	SignalImageFsInodesFree:          resourceInodes,
	SignalPIDAvailable:               resourcePids,
}

// signalToNodeCondition maps a signal to the node condition its threshold
// being met reports.
var signalToNodeCondition = map[Signal]v1.NodeConditionType{
	SignalMemoryAvailable:            v1.NodeMemoryPressure,
	SignalAllocatableMemoryAvailable: v1.NodeMemoryPressure,
	SignalNodeFsAvailable:            v1.NodeDiskPressure,
	SignalNodeFsInodesFree:           v1.NodeDiskPressure,
	SignalImageFsAvailable:           v1.NodeDiskPressure,
	SignalImageFsInodesFree:          v1.NodeDiskPressure,
	SignalPIDAvailable:               v1.NodePIDPressure,
}

// ThresholdValue is a quantity, or a share of the signal's capacity
// (Percentage, 0.1 for 10%) when Quantity is nil.
type ThresholdValue struct {
	Quantity   *resource.Quantity
	Percentage float32
}

// String prints the value as the flag gave it.
func (v ThresholdValue) String() string {
	if v.Quantity != nil {
		return v.Quantity.String()
	}
	return strconv.FormatFloat(float64(v.Percentage)*100, 'f', -1, 32) + "%"
}

// quantity is the value for a signal whose capacity is capacity.
func (v ThresholdValue) quantity(capacity *resource.Quantity) *resource.Quantity {
	if v.Quantity != nil {
		q := v.Quantity.DeepCopy()
		return &q
	}
	var c int64
	if capacity != nil {
		c = capacity.Value()
	}
	return resource.NewQuantity(int64(float64(c)*float64(v.Percentage)), resource.BinarySI)
}

func (v ThresholdValue) equal(o ThresholdValue) bool {
	if v.Quantity != nil || o.Quantity != nil {
		return v.Quantity != nil && o.Quantity != nil && v.Quantity.Cmp(*o.Quantity) == 0
	}
	return v.Percentage == o.Percentage
}

// Threshold is one eviction threshold: the signal below Value. Hard
// thresholds have no GracePeriod; soft ones must hold that long before
// pods are evicted. MinReclaim, if set, is how far above Value the
// signal must come back before the threshold counts as resolved. The
// only operator is "less than", as upstream's.
type Threshold struct {
	Signal      Signal
	Value       ThresholdValue
	GracePeriod time.Duration
	MinReclaim  *ThresholdValue
}

func (t Threshold) hard() bool { return t.GracePeriod == 0 }

func (t Threshold) String() string {
	return fmt.Sprintf("%s<%s (grace period %v)", t.Signal, t.Value, t.GracePeriod)
}

// sameThreshold compares thresholds by what they say.
func sameThreshold(a, b Threshold) bool {
	return a.Signal == b.Signal && a.GracePeriod == b.GracePeriod && a.Value.equal(b.Value)
}

// DefaultEvictionHard is upstream's Linux default of --eviction-hard.
const DefaultEvictionHard = "memory.available<100Mi,nodefs.available<10%,imagefs.available<15%,nodefs.inodesFree<5%"

// Flags are the eviction flags as given, for ParseThresholds.
type Flags struct {
	Hard, Soft, SoftGracePeriod, MinimumReclaim string
	// EnforcePods is --enforce-node-allocatable including pods: the
	// hard memory.available threshold applies to
	// allocatableMemory.available too.
	EnforcePods bool
}

// ParseThresholds parses the eviction flags as upstream's
// ParseThresholdConfig does: SIGNAL<QUANTITY or SIGNAL<PERCENT% entries
// separated by commas for --eviction-hard and --eviction-soft (0% and
// 100% ignore the signal), SIGNAL=DURATION for
// --eviction-soft-grace-period (one for every soft signal) and
// SIGNAL=QUANTITY|PERCENT% for --eviction-minimum-reclaim. Errors name
// the flag and the entry.
func ParseThresholds(f Flags) ([]Threshold, error) {
	hard, err := parseStatements("--eviction-hard", f.Hard)
	if err != nil {
		return nil, err
	}
	soft, err := parseStatements("--eviction-soft", f.Soft)
	if err != nil {
		return nil, err
	}
	graces, err := parsePairs("--eviction-soft-grace-period", f.SoftGracePeriod, func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err == nil && d < 0 {
			err = errors.New("must not be negative")
		}
		return d, err
	})
	if err != nil {
		return nil, err
	}
	reclaims, err := parsePairs("--eviction-minimum-reclaim", f.MinimumReclaim, parseMinReclaim)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range soft {
		g, ok := graces[soft[i].Signal]
		if !ok || g == 0 {
			errs = append(errs, fmt.Errorf("--eviction-soft-grace-period: no grace period for soft threshold %s", soft[i].Signal))
			continue
		}
		soft[i].GracePeriod = g
	}
	for s := range graces {
		if !hasSignal(soft, s) {
			errs = append(errs, fmt.Errorf("--eviction-soft-grace-period: %s has no soft threshold", s))
		}
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	out := append(hard, soft...)
	for i := range out {
		if r, ok := reclaims[out[i].Signal]; ok {
			out[i].MinReclaim = &r
		}
	}
	if f.EnforcePods {
		for _, t := range out {
			if t.Signal == SignalMemoryAvailable && t.hard() {
				out = append(out, Threshold{Signal: SignalAllocatableMemoryAvailable, Value: t.Value, MinReclaim: t.MinReclaim})
				break
			}
		}
	}
	return out, nil
}

func hasSignal(ts []Threshold, s Signal) bool {
	for _, t := range ts {
		if t.Signal == s {
			return true
		}
	}
	return false
}

// parseStatements parses SIGNAL<VALUE entries.
func parseStatements(flag, s string) ([]Threshold, error) {
	var out []Threshold
	for _, entry := range splitList(s) {
		name, val, ok := strings.Cut(entry, "<")
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("%s %q: want SIGNAL<QUANTITY or SIGNAL<PERCENT%%", flag, entry)
		}
		sig := Signal(strings.TrimSpace(name))
		if err := checkSignal(sig); err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, entry, err)
		}
		if hasSignal(out, sig) {
			return nil, fmt.Errorf("%s %q: %s given twice", flag, entry, sig)
		}
		v, ignore, err := parseThresholdValue(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, entry, err)
		}
		if !ignore {
			out = append(out, Threshold{Signal: sig, Value: v})
		}
	}
	return out, nil
}

// checkSignal accepts the signals a flag may name: not the derived
// allocatableMemory.available.
func checkSignal(s Signal) error {
	if _, ok := signalToResource[s]; !ok || s == SignalAllocatableMemoryAvailable {
		return fmt.Errorf("unsupported eviction signal %s", s)
	}
	return nil
}

// parseThresholdValue parses a quantity or a percentage; 0% and 100% say
// to ignore the signal, as upstream's.
func parseThresholdValue(val string) (ThresholdValue, bool, error) {
	if strings.HasSuffix(val, "%") {
		if val == "0%" || val == "100%" {
			return ThresholdValue{}, true, nil
		}
		p, err := parsePercentage(val)
		if err != nil {
			return ThresholdValue{}, false, err
		}
		if p < 0 || p > 1 {
			return ThresholdValue{}, false, fmt.Errorf("percentage %s must be within 0%%-100%%", val)
		}
		return ThresholdValue{Percentage: p}, false, nil
	}
	q, err := resource.ParseQuantity(val)
	if err != nil {
		return ThresholdValue{}, false, err
	}
	if q.Sign() <= 0 {
		return ThresholdValue{}, false, fmt.Errorf("threshold %s must be positive", val)
	}
	return ThresholdValue{Quantity: &q}, false, nil
}

func parseMinReclaim(val string) (ThresholdValue, error) {
	if strings.HasSuffix(val, "%") {
		p, err := parsePercentage(val)
		if err != nil {
			return ThresholdValue{}, err
		}
		if p <= 0 {
			return ThresholdValue{}, fmt.Errorf("percentage %s must be positive", val)
		}
		return ThresholdValue{Percentage: p}, nil
	}
	q, err := resource.ParseQuantity(val)
	if err != nil {
		return ThresholdValue{}, err
	}
	if q.Sign() < 0 {
		return ThresholdValue{}, fmt.Errorf("%s must not be negative", val)
	}
	return ThresholdValue{Quantity: &q}, nil
}

func parsePercentage(val string) (float32, error) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 32)
	if err != nil {
		return 0, fmt.Errorf("bad percentage %s", val)
	}
	return float32(f) / 100, nil
}

// parsePairs parses SIGNAL=VALUE entries.
func parsePairs[T any](flag, s string, parse func(string) (T, error)) (map[Signal]T, error) {
	out := map[Signal]T{}
	for _, entry := range splitList(s) {
		name, val, ok := strings.Cut(entry, "=")
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("%s %q: want SIGNAL=VALUE", flag, entry)
		}
		sig := Signal(strings.TrimSpace(name))
		if err := checkSignal(sig); err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, entry, err)
		}
		v, err := parse(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, entry, err)
		}
		out[sig] = v
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// ParseResourceList parses --system-reserved and --kube-reserved:
// NAME=QUANTITY entries (cpu, memory, ephemeral-storage, pid) separated
// by commas, as upstream's kubelet accepts them.
func ParseResourceList(flag, s string) (v1.ResourceList, error) {
	out := v1.ResourceList{}
	for _, entry := range splitList(s) {
		name, val, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("%s %q: want NAME=QUANTITY", flag, entry)
		}
		rn := v1.ResourceName(strings.TrimSpace(name))
		switch rn {
		case v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage, reservedPID:
		default:
			return nil, fmt.Errorf("%s %q: cannot reserve %q (want cpu, memory, ephemeral-storage or pid)", flag, entry, rn)
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, entry, err)
		}
		if q.Sign() < 0 {
			return nil, fmt.Errorf("%s %q: must not be negative", flag, entry)
		}
		out[rn] = q
	}
	return out, nil
}

// Reservation is what node allocatable holds back from capacity, as
// upstream's container manager GetNodeAllocatableReservation: the system
// and kube reservations and the hard eviction thresholds of memory and
// the node file system.
func Reservation(capacity, systemReserved, kubeReserved v1.ResourceList, thresholds []Threshold) v1.ResourceList {
	eviction := v1.ResourceList{}
	for _, t := range thresholds {
		if !t.hard() {
			continue
		}
		var rn v1.ResourceName
		switch t.Signal {
		case SignalMemoryAvailable:
			rn = v1.ResourceMemory
		case SignalNodeFsAvailable:
			rn = v1.ResourceEphemeralStorage
		default:
			continue
		}
		if c, ok := capacity[rn]; ok {
			eviction[rn] = *t.Value.quantity(&c)
		}
	}
	out := v1.ResourceList{}
	for rn := range capacity {
		v := resource.NewQuantity(0, resource.DecimalSI)
		for _, l := range []v1.ResourceList{systemReserved, kubeReserved, eviction} {
			if q, ok := l[rn]; ok {
				v.Add(q)
			}
		}
		if !v.IsZero() {
			out[rn] = *v
		}
	}
	return out
}

// Allocatable is capacity less the reservation, never below zero.
func Allocatable(capacity, reservation v1.ResourceList) v1.ResourceList {
	out := capacity.DeepCopy()
	for rn, r := range reservation {
		q, ok := out[rn]
		if !ok {
			continue
		}
		q.Sub(r)
		if q.Sign() < 0 {
			q = *resource.NewQuantity(0, q.Format)
		}
		out[rn] = q
	}
	return out
}
