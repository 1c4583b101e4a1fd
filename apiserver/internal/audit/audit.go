// Package audit writes the apiserver's audit log, as kube-apiserver's
// --audit-policy-file and --audit-log-* flags do: a Policy decides per
// request how much is recorded (None, Metadata, Request or
// RequestResponse), and every recorded stage of the request becomes one
// audit.k8s.io/v1 Event, a JSON line in the log file, which rotates by
// size, age and count.
//
// A request's audit runs around the handler:
//
//	Begin ──> RequestReceived ──> [handler writes status] ──> ResponseStarted (long-running only)
//	                                        │
//	                                        └──> Finish ──> ResponseComplete    (or Panic)
//
// Begin evaluates the policy with the request's attributes (the
// authenticated user among them) and tees the request body when the level
// needs it; Wrap (or WrapGin) returns a ResponseWriter that sets the
// Audit-ID header, records the status code, and captures the response
// body only when the level or a failure needs it, while streaming,
// flushing and hijacking work as without it; Finish logs the end.
// Authorization adds its decision with Entry.Authorized.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"
	"gopkg.in/natefinch/lumberjack.v2"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Defaults of the options, kube-apiserver's where it has one.
const (
	// FormatJSON is the only log format: one Event as JSON per line.
	FormatJSON = "json"
	// DefaultMaxBodyBytes caps a logged request or response body, as
	// upstream's default maximum event size: a larger body is left out
	// and the event is annotated audit.k8s.io/truncated.
	DefaultMaxBodyBytes = 100 * 1024
)

// Options configure the audit log, from the --audit-* flags.
type Options struct {
	// PolicyFile is --audit-policy-file; without it nothing is logged.
	PolicyFile string
	// Path is --audit-log-path, "-" for standard output; without it
	// nothing is logged.
	Path string
	// MaxAge is --audit-log-maxage: days to keep rotated files (0: no
	// limit).
	MaxAge int
	// MaxBackups is --audit-log-maxbackup: rotated files kept (0: no
	// limit).
	MaxBackups int
	// MaxSize is --audit-log-maxsize: megabytes before the file rotates
	// (0: never).
	MaxSize int
	// Format is --audit-log-format; only "json" (the default) is known.
	Format string
	// MaxBodyBytes caps each logged body; 0 is DefaultMaxBodyBytes.
	MaxBodyBytes int
	Log          *zap.Logger
}

// Logger writes audit events. A nil *Logger audits nothing but still
// gives every request its Audit-ID.
type Logger struct {
	policy  *Policy
	maxBody int
	log     *zap.Logger

	mu  sync.Mutex // guards out: one event per write, never interleaved
	out io.Writer
	// closer closes out; nil for standard output.
	closer io.Closer
}

// New opens the audit log the options describe, or returns nil (audit
// off) when the policy file or the log path is not set, as kube-apiserver
// logs nothing without both.
func New(opts Options) (*Logger, error) {
	if opts.PolicyFile == "" || opts.Path == "" {
		return nil, nil
	}
	if opts.Format != "" && opts.Format != FormatJSON {
		return nil, fmt.Errorf("invalid audit log format %s, allowed formats are %q", opts.Format, FormatJSON)
	}
	for _, f := range []struct {
		name  string
		value int
	}{{"--audit-log-maxage", opts.MaxAge}, {"--audit-log-maxbackup", opts.MaxBackups}, {"--audit-log-maxsize", opts.MaxSize}} {
		if f.value < 0 {
			return nil, fmt.Errorf("%s %v can't be a negative number", f.name, f.value)
		}
	}
	policy, err := LoadPolicy(opts.PolicyFile)
	if err != nil {
		return nil, err
	}
	out, closer, err := openLog(opts)
	if err != nil {
		return nil, err
	}
	l := NewWithWriter(policy, out, opts)
	l.closer = closer
	return l, nil
}

// NewWithWriter returns a Logger that writes policy's events to out.
func NewWithWriter(policy *Policy, out io.Writer, opts Options) *Logger {
	l := &Logger{policy: policy, out: out, maxBody: opts.MaxBodyBytes, log: opts.Log}
	if l.maxBody <= 0 {
		l.maxBody = DefaultMaxBodyBytes
	}
	if l.log == nil {
		l.log = zap.NewNop()
	}
	return l
}

// openLog opens the log as kube-apiserver does: the file is created 0600
// in a 0700 directory, rotated by lumberjack unless MaxSize is 0.
func openLog(opts Options) (io.Writer, io.Closer, error) {
	if opts.Path == "-" {
		return os.Stdout, nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(opts.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	if opts.MaxSize == 0 {
		return f, f, nil
	}
	_ = f.Close()
	lj := &lumberjack.Logger{Filename: opts.Path, MaxAge: opts.MaxAge, MaxBackups: opts.MaxBackups, MaxSize: opts.MaxSize}
	return lj, lj, nil
}

// Close closes the log file.
func (l *Logger) Close() error {
	if l == nil || l.closer == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closer.Close()
}

// write logs one event as a JSON line.
func (l *Logger) write(ev *auditv1.Event) {
	line, err := json.Marshal(ev)
	if err != nil {
		l.log.Error("encoding audit event failed", zap.String("auditID", string(ev.AuditID)), zap.Error(err))
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	_, err = l.out.Write(line)
	l.mu.Unlock()
	if err != nil {
		l.log.Error("writing audit event failed", zap.String("auditID", string(ev.AuditID)), zap.Error(err))
	}
}
