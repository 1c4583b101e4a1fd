package eviction

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseThresholds(t *testing.T) {
	q := func(s string) ThresholdValue { v := resource.MustParse(s); return ThresholdValue{Quantity: &v} }
	pct := func(p float32) ThresholdValue { return ThresholdValue{Percentage: p} }
	cases := []struct {
		name    string
		flags   Flags
		want    []Threshold
		wantErr string
	}{
		{
			name:  "upstream default with allocatable enforcement",
			flags: Flags{Hard: DefaultEvictionHard, EnforcePods: true},
			want: []Threshold{
				{Signal: SignalMemoryAvailable, Value: q("100Mi")},
				{Signal: SignalNodeFsAvailable, Value: pct(0.1)},
				{Signal: SignalImageFsAvailable, Value: pct(0.15)},
				{Signal: SignalNodeFsInodesFree, Value: pct(0.05)},
				{Signal: SignalAllocatableMemoryAvailable, Value: q("100Mi")},
			},
		},
		{
			name:  "no allocatable threshold without enforcement",
			flags: Flags{Hard: "memory.available<1Gi"},
			want:  []Threshold{{Signal: SignalMemoryAvailable, Value: q("1Gi")}},
		},
		{
			name: "soft thresholds with grace periods and minimum reclaim",
			flags: Flags{Hard: "pid.available<1000", Soft: "memory.available<1.5Gi,imagefs.inodesFree<10%",
				SoftGracePeriod: "memory.available=1m30s,imagefs.inodesFree=2m", MinimumReclaim: "memory.available=0Mi,pid.available=10%"},
			want: []Threshold{
				{Signal: SignalPIDAvailable, Value: q("1000"), MinReclaim: &ThresholdValue{Percentage: 0.1}},
				{Signal: SignalMemoryAvailable, Value: q("1.5Gi"), GracePeriod: 90 * time.Second, MinReclaim: &ThresholdValue{Quantity: ptrQ("0Mi")}},
				{Signal: SignalImageFsInodesFree, Value: pct(0.1), GracePeriod: 2 * time.Minute},
			},
		},
		{
			name:  "0% and 100% ignore the signal",
			flags: Flags{Hard: "nodefs.available<0%,imagefs.available<100%"},
			want:  nil,
		},
		{name: "soft threshold without grace period", flags: Flags{Soft: "memory.available<1Gi"},
			wantErr: "--eviction-soft-grace-period: no grace period for soft threshold memory.available"},
		{name: "grace period without soft threshold", flags: Flags{Soft: "memory.available<1Gi", SoftGracePeriod: "memory.available=1m,nodefs.available=1m"},
			wantErr: "--eviction-soft-grace-period: nodefs.available has no soft threshold"},
		{name: "greater than is not an operator", flags: Flags{Hard: "memory.available>1Gi"},
			wantErr: `--eviction-hard "memory.available>1Gi": want SIGNAL<QUANTITY or SIGNAL<PERCENT%`},
		{name: "unknown signal", flags: Flags{Hard: "memory.free<1Gi"},
			wantErr: `--eviction-hard "memory.free<1Gi": unsupported eviction signal memory.free`},
		{name: "derived signal is no flag value", flags: Flags{Hard: "allocatableMemory.available<1Gi"},
			wantErr: "unsupported eviction signal allocatableMemory.available"},
		{name: "bad quantity", flags: Flags{Soft: "memory.available<lots"},
			wantErr: `--eviction-soft "memory.available<lots"`},
		{name: "zero quantity", flags: Flags{Hard: "memory.available<0"}, wantErr: "must be positive"},
		{name: "percentage above 100", flags: Flags{Hard: "nodefs.available<150%"}, wantErr: "within 0%-100%"},
		{name: "bad grace period", flags: Flags{Soft: "memory.available<1Gi", SoftGracePeriod: "memory.available=soon"},
			wantErr: `--eviction-soft-grace-period "memory.available=soon"`},
		{name: "negative minimum reclaim", flags: Flags{MinimumReclaim: "memory.available=-1Mi"},
			wantErr: `--eviction-minimum-reclaim "memory.available=-1Mi": -1Mi must not be negative`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseThresholds(tc.flags)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				sameReclaim := (g.MinReclaim == nil) == (w.MinReclaim == nil) && (g.MinReclaim == nil || g.MinReclaim.equal(*w.MinReclaim))
				if !sameThreshold(g, w) || !sameReclaim {
					t.Errorf("threshold %d: got %v (reclaim %v), want %v (reclaim %v)", i, g, g.MinReclaim, w, w.MinReclaim)
				}
			}
		})
	}
}

func ptrQ(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func TestParseResourceList(t *testing.T) {
	got, err := ParseResourceList("--system-reserved", "memory=1Gi, cpu=500m,ephemeral-storage=2Gi,pid=1000")
	if err != nil {
		t.Fatal(err)
	}
	want := v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi"), v1.ResourceCPU: resource.MustParse("500m"),
		v1.ResourceEphemeralStorage: resource.MustParse("2Gi"), "pid": resource.MustParse("1000")}
	for rn, q := range want {
		if g := got[rn]; g.Cmp(q) != 0 {
			t.Errorf("%s = %s, want %s", rn, g.String(), q.String())
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"memory", `--kube-reserved "memory": want NAME=QUANTITY`},
		{"gpu=1", `cannot reserve "gpu"`},
		{"memory=-1Gi", "must not be negative"},
		{"memory=much", `--kube-reserved "memory=much"`},
	} {
		if _, err := ParseResourceList("--kube-reserved", bad.in); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want %q", bad.in, err, bad.want)
		}
	}
}

// Allocatable is capacity less system-reserved, kube-reserved and the
// hard eviction thresholds of memory and nodefs, as upstream's
// GetNodeAllocatableReservation.
// Percentages are float32 as upstream's, so 10% of 100Gi is 160 bytes
// more than 10Gi, as there.
func TestAllocatable(t *testing.T) {
	capacity := v1.ResourceList{
		v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("10Gi"),
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"), v1.ResourcePods: resource.MustParse("110"),
	}
	defaults, err := ParseThresholds(Flags{Hard: DefaultEvictionHard, Soft: "memory.available<2Gi", SoftGracePeriod: "memory.available=1m", EnforcePods: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		system, kube v1.ResourceList
		thresholds   []Threshold
		want         v1.ResourceList
	}{
		{
			name: "eviction thresholds only (soft ones do not count)", thresholds: defaults,
			want: v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("10140Mi"),
				v1.ResourceEphemeralStorage: resource.MustParse("96636764000"), v1.ResourcePods: resource.MustParse("110")},
		},
		{
			name:       "reservations and thresholds",
			system:     v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi"), v1.ResourceCPU: resource.MustParse("500m")},
			kube:       v1.ResourceList{v1.ResourceMemory: resource.MustParse("512Mi"), v1.ResourceEphemeralStorage: resource.MustParse("10Gi")},
			thresholds: defaults,
			want: v1.ResourceList{v1.ResourceCPU: resource.MustParse("3500m"), v1.ResourceMemory: resource.MustParse("8604Mi"),
				v1.ResourceEphemeralStorage: resource.MustParse("85899345760"), v1.ResourcePods: resource.MustParse("110")},
		},
		{
			name:   "never below zero",
			system: v1.ResourceList{v1.ResourceMemory: resource.MustParse("20Gi")},
			want: v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("0"),
				v1.ResourceEphemeralStorage: resource.MustParse("100Gi"), v1.ResourcePods: resource.MustParse("110")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Allocatable(capacity, Reservation(capacity, tc.system, tc.kube, tc.thresholds))
			for rn, w := range tc.want {
				if g := got[rn]; g.Cmp(w) != 0 {
					t.Errorf("%s = %s, want %s", rn, g.String(), w.String())
				}
			}
		})
	}
}
