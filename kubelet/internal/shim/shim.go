// Package shim is the one small process per container that outlives the
// kubelet: it runs `runc create` with the container's output on pipes it
// holds (or, for a container with a terminal, with the terminal's master,
// which runc sends it), copies that output into the container's log file
// and to the clients attached through the bundle's attach socket, passes
// their input to the container's stdin, waits for the container's first
// process (as the child subreaper it becomes its parent) and records how
// it exited in the bundle's exit.json. It is its own small binary
// (cmd/kubelet-shim), so that a hundred of them cost little memory and
// start fast.
package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"coracle.dev/kubelet/internal/logs"
)

// Env carries the shim's configuration (JSON) from the kubelet; it also
// marks shim processes.
const Env = "CORACLE_KUBELET_SHIM"

// Config is what a shim is told.
type Config struct {
	Runc        string `json:"runc"`
	RuncRoot    string `json:"runcRoot"`
	Bundle      string `json:"bundle"`
	ID          string `json:"id"`
	LogPath     string `json:"logPath"`
	LogMaxSize  int64  `json:"logMaxSize"`
	LogMaxFiles int    `json:"logMaxFiles"`
	// MemoryCgroup is the container's memory cgroup directory, read for
	// OOM kills.
	MemoryCgroup string `json:"memoryCgroup"`
	// TTY, Stdin and StdinOnce are the container's: a terminal, or a
	// stdin pipe attached clients write to, closed when the first
	// client is done with StdinOnce.
	TTY       bool `json:"tty,omitempty"`
	Stdin     bool `json:"stdin,omitempty"`
	StdinOnce bool `json:"stdinOnce,omitempty"`
}

// Reply is written on the sync pipe (fd 3) once the container is
// created.
type Reply struct {
	PID   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// Exit is written to the bundle's exit.json when the container's first
// process has exited.
type Exit struct {
	ExitCode   int       `json:"exitCode"`
	Signal     int       `json:"signal,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
}

// ExitFile is the exit record's name in the bundle.
const ExitFile = "exit.json"

// Main runs the shim with the configuration in the environment and
// returns its exit code.
func Main() int {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(Env)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "shim: no configuration:", err)
		return 2
	}
	return run(cfg)
}

func run(cfg Config) int {
	syncPipe := os.NewFile(3, "sync")
	reply := func(r Reply) {
		_ = json.NewEncoder(syncPipe).Encode(r)
		_ = syncPipe.Close()
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		reply(Reply{Error: "subreaper: " + err.Error()})
		return 1
	}
	lw, err := logs.NewWriter(cfg.LogPath, cfg.LogMaxSize, cfg.LogMaxFiles)
	if err != nil {
		reply(Reply{Error: "log file: " + err.Error()})
		return 1
	}
	defer lw.Close()
	// The attach socket, bound from inside the bundle (see
	// AttachSocket).
	if err := os.Chdir(cfg.Bundle); err != nil {
		reply(Reply{Error: err.Error()})
		return 1
	}
	_ = os.Remove(AttachSocket)
	attachL, err := net.Listen("unix", AttachSocket)
	if err != nil {
		reply(Reply{Error: "attach socket: " + err.Error()})
		return 1
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		reply(Reply{Error: err.Error()})
		return 1
	}
	pidFile := filepath.Join(cfg.Bundle, "pid")
	runcLog := filepath.Join(cfg.Bundle, "runc.log")
	args := []string{"--root", cfg.RuncRoot, "--log", runcLog, "--log-format", "json",
		"create", "--bundle", cfg.Bundle, "--pid-file", pidFile}
	cmd := exec.Command(cfg.Runc)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, devNull, devNull
	var (
		outR, errR, master *os.File
		stdin              io.WriteCloser
		resize             func(w, h uint16)
		closeAfterCreate   []*os.File
		console            *consoleSocket
	)
	if cfg.TTY {
		if console, err = newConsoleSocket(); err != nil {
			reply(Reply{Error: "console socket: " + err.Error()})
			return 1
		}
		defer console.close()
		args = append(args, "--console-socket", console.path)
	} else {
		var outW, errW *os.File
		if outR, outW, err = os.Pipe(); err != nil {
			reply(Reply{Error: err.Error()})
			return 1
		}
		if errR, errW, err = os.Pipe(); err != nil {
			reply(Reply{Error: err.Error()})
			return 1
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		closeAfterCreate = append(closeAfterCreate, outW, errW)
		if cfg.Stdin {
			inR, inW, err := os.Pipe()
			if err != nil {
				reply(Reply{Error: err.Error()})
				return 1
			}
			cmd.Stdin, stdin = inR, inW
			closeAfterCreate = append(closeAfterCreate, inR)
		}
	}
	cmd.Args = append([]string{cfg.Runc}, append(args, cfg.ID)...)
	type received struct {
		f   *os.File
		err error
	}
	masterCh := make(chan received, 1)
	if console != nil {
		go func() {
			f, err := console.receive()
			masterCh <- received{f, err}
		}()
	}
	runErr := cmd.Run()
	for _, f := range closeAfterCreate {
		f.Close()
	}
	devNull.Close()
	if runErr == nil && console != nil {
		select {
		case got := <-masterCh:
			master, runErr = got.f, got.err
		case <-time.After(10 * time.Second):
			runErr = errors.New("no terminal received from runc")
		}
		console.close()
	}
	if runErr != nil {
		reply(Reply{Error: fmt.Sprintf("runc create: %v: %s", runErr, runcError(runcLog))})
		return 1
	}
	if master != nil {
		if cfg.Stdin {
			stdin = terminalInput{master}
		}
		resize = func(w, h uint16) { setWinsize(master, w, h) }
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		reply(Reply{Error: "runc create: " + err.Error()})
		return 1
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		reply(Reply{Error: "runc create: bad pid file: " + err.Error()})
		return 1
	}
	attach := newAttachServer(attachL, stdin, cfg.StdinOnce, resize)
	go attach.serve()
	reply(Reply{PID: pid})

	var copies sync.WaitGroup
	// A log that cannot be written (a full disk) must not block the
	// container: what cannot be written is dropped. Attached clients
	// get the output as it is read.
	drain := func(stream string, r io.Reader) {
		defer copies.Done()
		if err := lw.Copy(stream, r); err != nil {
			fmt.Fprintln(os.Stderr, "shim: write log:", err)
			_, _ = io.Copy(io.Discard, r)
		}
	}
	if master != nil {
		copies.Add(1)
		go drain(logs.Stdout, io.TeeReader(eioAsEOF{master}, attach.writer(FrameStdout)))
	} else {
		copies.Add(2)
		go drain(logs.Stdout, io.TeeReader(outR, attach.writer(FrameStdout)))
		go drain(logs.Stderr, io.TeeReader(errR, attach.writer(FrameStderr)))
	}

	exit := Exit{}
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// No child left: the container is gone without our seeing
			// it (it should not happen).
			exit.ExitCode = 255
			break
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			exit.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			exit.Signal = int(ws.Signal())
			exit.ExitCode = 128 + int(ws.Signal())
		}
		break
	}
	exit.FinishedAt = time.Now()
	exit.OOMKilled = oomKilled(cfg.MemoryCgroup)
	// Output written just before the exit is still in the pipes.
	done := make(chan struct{})
	go func() { copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	// Attached clients get what is left for them, then their end.
	attach.close(2 * time.Second)
	if stdin != nil {
		_ = stdin.Close()
	}
	if err := writeFile(filepath.Join(cfg.Bundle, ExitFile), exit); err != nil {
		fmt.Fprintln(os.Stderr, "shim: write exit record:", err)
		return 1
	}
	// Free runc's state and the container's cgroup now; the bundle stays
	// until the kubelet removes the container.
	_ = exec.Command(cfg.Runc, "--root", cfg.RuncRoot, "delete", "--force", cfg.ID).Run()
	return 0
}

// oomKilled reads the cgroup's OOM kill counter (v1 memory.oom_control,
// v2 memory.events).
func oomKilled(dir string) bool {
	if dir == "" {
		return false
	}
	for _, f := range []string{"memory.oom_control", "memory.events"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n > 0
			}
		}
	}
	return false
}

// runcError returns the last error message in runc's JSON log.
func runcError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(lines[i]), &l) == nil && (l.Level == "error" || l.Level == "fatal") {
			return l.Msg
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}

// writeFile writes v as JSON through a temporary file and a rename.
func writeFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
