// Package framework starts and stops the processes of a Coracle cluster —
// the built apiserver binary, and Debian's etcd for an external etcd
// cluster — for end-to-end tests, the way a user would run them:
//
//	s := framework.StartAPIServer(t, framework.APIServerOptions{})
//	s.Kill()    // SIGKILL
//	s.Restart() // same data directory, same ports
//
// Every process listens on loopback ports picked free, keeps its state in
// the test's temporary directory, writes its output to a log file there
// (whose tail is printed when the test fails), and is killed by its PID when
// the test ends.
package framework

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SystemBinary is the path of a program the host provides (kubectl, etcd):
// /usr/bin/name if it is there, else name on $PATH. The test fails with
// hint when it is missing; an end-to-end test never skips.
func SystemBinary(t testing.TB, name, hint string) string {
	t.Helper()
	if fi, err := os.Stat(filepath.Join("/usr/bin", name)); err == nil && !fi.IsDir() {
		return filepath.Join("/usr/bin", name)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in /usr/bin or $PATH: %s", name, hint)
	}
	return path
}

// FreePorts returns n distinct loopback ports that were free a moment ago.
// All n listeners are open at once, so the ports differ from each other;
// another process may still take one before ours binds it, which the
// starters detect ("address already in use") and retry on new ports.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pick a free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Process is one started program whose stdout and stderr go to a log file.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error         // written before done closes
}

// startProcess starts path with args, appending its output to logPath.
func startProcess(name, path string, args []string, logPath string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", name, err)
	}
	fmt.Fprintf(logFile, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the test binary itself die (a panic, go test's timeout), the
	// kernel kills what it started rather than leaving it holding ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

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

// ExitCode is the exit status, or -1 if a signal ended the process; call
// it after Done is closed.
func (p *Process) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// ExitDescription says how the process ended, e.g. "exit status 1" or
// "signal: killed"; call it after Done is closed.
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

// Kill sends SIGKILL and waits until the process is gone.
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

// logContains reports whether the log file holds s.
func logContains(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), s)
}

// poll calls check every interval until it returns true, stop
// closes, or timeout passes; it reports whether check succeeded.
func poll(interval, timeout time.Duration, stop <-chan struct{}, check func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if check() {
			return true
		}
		select {
		case <-stop:
			return check()
		case <-deadline.C:
			return check()
		case <-tick.C:
		}
	}
}
