package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs       int
	CPUModel   string
	MemoryKiB  int64
	Kernel     string
	GoVersion  string
	GOMAXPROCS int
}

// ReadMachine reads the machine's description from /proc and the runtime.
// What /proc does not tell is left empty rather than failing the run.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.CPUModel = CPUModel(f)
		_ = f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.MemoryKiB = MemTotalKiB(f)
		_ = f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// CPUModel returns the first "model name" of a /proc/cpuinfo.
func CPUModel(cpuinfo io.Reader) string {
	return field(cpuinfo, "model name", ":")
}

// MemTotalKiB returns MemTotal of a /proc/meminfo, in KiB; 0 if absent.
func MemTotalKiB(meminfo io.Reader) int64 {
	v := strings.TrimSuffix(field(meminfo, "MemTotal", ":"), " kB")
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// field returns the value of the first "key<sep>value" line.
func field(r io.Reader, key, sep string) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// String is the machine in one line, for the table's header.
func (m Machine) String() string {
	model := m.CPUModel
	if model == "" {
		model = "unknown CPU"
	}
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB memory, kernel %s, %s, GOMAXPROCS %d",
		m.CPUs, model, float64(m.MemoryKiB)/(1<<20), m.Kernel, m.GoVersion, m.GOMAXPROCS)
}
