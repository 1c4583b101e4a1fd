package loadtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of /proc/PID/stat's CPU times: USER_HZ, 100 on every
// Linux architecture Go supports.
const userHZ = 100

// cpuMeter reads the CPU time used so far by this process and, when its
// pid is known, the apiserver's: it tells the server's share of a phase
// apart from the load generator's, which runs on the same cores.
type cpuMeter struct {
	serverPID int // 0: unknown, the server runs elsewhere
}

// cpuTimes are CPU times used so far; negative when unknown. Machine is
// every process's, and shows load from anything else on the machine.
type cpuTimes struct {
	Server, Client, Machine time.Duration
}

func (m cpuMeter) read() cpuTimes {
	t := cpuTimes{Server: -1, Client: selfCPU(), Machine: machineCPU()}
	if m.serverPID == 0 {
		return t
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.serverPID))
	if err != nil {
		return t
	}
	if ticks, err := StatCPUTicks(string(b)); err == nil {
		t.Server = time.Duration(ticks) * time.Second / userHZ
	}
	return t
}

// since returns the CPU time used from before to t; negative where
// unknown.
func (t cpuTimes) since(before cpuTimes) cpuTimes {
	diff := func(now, then time.Duration) time.Duration {
		if now < 0 || then < 0 {
			return -1
		}
		return now - then
	}
	return cpuTimes{
		Server: diff(t.Server, before.Server), Client: diff(t.Client, before.Client), Machine: diff(t.Machine, before.Machine),
	}
}

func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	ticks, err := BusyTicks(string(b))
	if err != nil {
		return -1
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// BusyTicks returns the clock ticks all CPUs spent busy, from the "cpu"
// line of a /proc/stat: user, nice, system, irq, softirq and steal (time
// the hypervisor gave to someone else), not idle or iowait.
func BusyTicks(stat string) (int64, error) {
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var sum int64
		// user nice system idle iowait irq softirq steal
		for _, i := range []int{1, 2, 3, 6, 7, 8} {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat cpu field %d %q: %w", i, f[i], err)
			}
			sum += n
		}
		return sum, nil
	}
	return 0, fmt.Errorf("/proc/stat: no cpu line")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// StatCPUTicks returns utime+stime, in clock ticks, of a /proc/PID/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted after its last ')'.
func StatCPUTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", stat)
	}
	// After ")": field 3 (state) onwards; utime and stime are 14 and 15.
	f := strings.Fields(stat[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("stat: %d fields after the command, want more than %d", len(f), stime)
	}
	u, err1 := strconv.ParseInt(f[utime], 10, 64)
	s, err2 := strconv.ParseInt(f[stime], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q, stime %q: not numbers", f[utime], f[stime])
	}
	return u + s, nil
}

// Cores is how many cores' worth of CPU used takes over elapsed: 1.5 is
// one and a half cores busy throughout.
func Cores(used, elapsed time.Duration) float64 {
	if elapsed <= 0 || used < 0 {
		return 0
	}
	return used.Seconds() / elapsed.Seconds()
}
