package loadtest

import (
	"strings"
	"testing"
)

func TestCPUModel(t *testing.T) {
	tests := []struct {
		name, cpuinfo, want string
	}{
		{"first processor's model", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n", "AMD EPYC 7B13"},
		{"no model name (arm)", "processor\t: 0\nBogoMIPS\t: 50.00\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CPUModel(strings.NewReader(tt.cpuinfo)); got != tt.want {
				t.Errorf("CPUModel = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMemTotalKiB(t *testing.T) {
	tests := []struct {
		name, meminfo string
		want          int64
	}{
		{"kB value", "MemTotal:       24683620 kB\nMemFree:         1000 kB\n", 24683620},
		{"missing", "MemFree: 1 kB\n", 0},
		{"garbage", "MemTotal: lots\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MemTotalKiB(strings.NewReader(tt.meminfo)); got != tt.want {
				t.Errorf("MemTotalKiB = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestMountType(t *testing.T) {
	mounts := "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n/dev/vdb /tmpdata xfs rw 0 0\n"
	tests := []struct {
		name, path, want string
	}{
		{"the longest containing mount wins", "/tmp/apiserver-load-1/data", "tmpfs on tmpfs"},
		{"the mount point itself", "/tmp", "tmpfs on tmpfs"},
		{"a sibling with a common prefix is not inside", "/tmpdata/x", "xfs on /dev/vdb"},
		{"root holds the rest", "/work/main", "ext4 on /dev/vda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MountType(mounts, tt.path); got != tt.want {
				t.Errorf("MountType(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	if got := MountType("", "/x"); got != "filesystem unknown" {
		t.Errorf("MountType with no mounts = %q", got)
	}
}
