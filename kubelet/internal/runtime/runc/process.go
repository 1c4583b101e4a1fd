package runc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
)

// alive reports whether the recorded process still runs (and is not a
// later process that reuses its PID).
func (r *Runtime) alive(crec containerRecord) bool {
	if crec.PID <= 0 {
		return false
	}
	start, err := processStart(crec.PID)
	if err != nil {
		return false
	}
	if crec.PIDStart != 0 && start != crec.PIDStart {
		return false
	}
	state, _ := processState(crec.PID)
	return state != "Z" && state != "X"
}

func itoa(i int) string { return strconv.Itoa(i) }

// processStart reads a process's start time (field 22 of /proc/PID/stat).
func processStart(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, errors.New("short /proc stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func processState(pid int) (string, error) {
	f, err := procStat(pid)
	if err != nil || len(f) < 1 {
		return "", err
	}
	return f[0], nil
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("bad /proc stat")
	}
	return strings.Fields(string(b[i+1:])), nil
}
