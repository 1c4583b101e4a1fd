// Package testproc runs the programs a test starts as child processes —
// Coracle's built binaries, or a host program such as etcd — the way a user
// would run them: each writes its output to a log file, is stopped by its
// PID when the test ends, and has its log's tail printed if the test
// failed.
//
//	p := testproc.Start(t, "scheduler", testbin.Path(t, "scheduler"), "--status-address", addr)
//	p.WaitReady(t, time.Minute, testproc.Readyz(addr))
//
// A process started by the test binary dies with it (a panic, go test's
// timeout): the kernel sends it SIGKILL, so none is left holding ports.
package testproc

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StopTimeout bounds how long the end of a test waits for a process
// started by Start to exit after SIGTERM before it kills it.
const StopTimeout = 20 * time.Second

// logTailLines is how much of a log a failed test prints.
const logTailLines = 200

// Process is one started program whose stdout and stderr go to a log file.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
}

// Spawn starts path with args, appending its output to logPath after a
// line naming the command. It is the building block for harnesses that
// manage a process's life themselves (restarts, several attempts); tests
// use Start.
func Spawn(name, path string, args []string, logPath string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", name, err)
	}
	fmt.Fprintf(logFile, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Start runs path with args, its output in NAME.log in a temporary
// directory of the test. When the test ends the process gets SIGTERM, and
// SIGKILL if it has not exited StopTimeout later, which fails the test (a
// program must stop on SIGTERM); the log's tail is printed if the test
// failed.
func Start(tb testing.TB, name, path string, args ...string) *Process {
	tb.Helper()
	// Made before the cleanup below is registered, so removed after it
	// has printed the log.
	logPath := filepath.Join(tb.TempDir(), name+".log")
	p, err := Spawn(name, path, args, logPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if !p.Exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(StopTimeout):
				tb.Errorf("%s (pid %d) ignored SIGTERM for %s; killing it", name, p.PID(), StopTimeout)
				p.Kill()
			}
		}
		if tb.Failed() {
			tb.Logf("%s log %s (tail):\n%s", name, logPath, LogTail(logPath, logTailLines))
		}
	})
	return p
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// LogPath is the file the process's output goes to.
func (p *Process) LogPath() string { return p.logPath }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status, or -1 if a signal ended the process; it
// waits for the process to exit.
func (p *Process) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// ExitDescription says how the process ended, e.g. "exit status 1" or
// "signal: killed"; it waits for the process to exit.
func (p *Process) ExitDescription() string {
	<-p.done
	return p.cmd.ProcessState.String()
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s (pid %d) already exited", p.name, p.PID())
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL, as a power cut would, and waits until the process
// is gone.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for the process to exit; past
// it the process is killed. It fails unless the process exits with status 0.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() {
		return fmt.Errorf("%s (pid %d) had already exited: %s", p.name, p.PID(), p.ExitDescription())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("%s (pid %d) still running %s after SIGTERM; killed", p.name, p.PID(), timeout)
	}
	if code := p.ExitCode(); code != 0 {
		return fmt.Errorf("%s (pid %d) exited after SIGTERM: %s", p.name, p.PID(), p.ExitDescription())
	}
	return nil
}

// CPU is the processor time, user and system, the process has used so
// far, from /proc/PID/stat; 0 once it has been reaped.
func (p *Process) CPU() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces; the fields after it
	// don't. utime and stime are fields 14 and 15, in clock ticks of
	// 10 ms (USER_HZ).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// Await calls ready every 100ms until it reports true, and returns an
// error with ready's last word when the process exits first or timeout
// passes.
func (p *Process) Await(timeout time.Duration, ready func() (bool, string)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := ready()
		if ok {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s (pid %d) exited before it was ready: %s (last: %s)", p.name, p.PID(), p.ExitDescription(), last)
		case <-deadline.C:
			if ok, last = ready(); ok {
				return nil
			}
			return fmt.Errorf("%s (pid %d) not ready within %s (last: %s)", p.name, p.PID(), timeout, last)
		case <-tick.C:
		}
	}
}

// WaitReady is Await that fails the test, with the log's tail.
func (p *Process) WaitReady(tb testing.TB, timeout time.Duration, ready func() (bool, string)) {
	tb.Helper()
	if err := p.Await(timeout, ready); err != nil {
		tb.Fatalf("%v\n%s log %s (tail):\n%s", err, p.name, p.logPath, LogTail(p.logPath, 40))
	}
}

// Readyz is a readiness check for WaitReady: GET http://addr/readyz (a
// component's status server) answers 200.
func Readyz(addr string) func() (bool, string) {
	client := &http.Client{Timeout: 5 * time.Second}
	return func() (bool, string) {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "/readyz: " + resp.Status
	}
}

// LogTail is the last n lines of a log file, for failure messages.
func LogTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// LogContains reports whether the log file holds s; starters look for
// "address already in use" to retry on other ports.
func LogContains(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), s)
}
