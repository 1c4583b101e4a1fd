package framework

import (
	"errors"
	"strings"
)

// Code is the outcome of running a plugin, from most to least favourable
// for the pod. The scheduler acts on the code; the reasons are for people.
type Code int

const (
	// Success: the plugin has no objection.
	Success Code = iota
	// Error: the plugin failed for a reason unrelated to the pod's fit
	// (a bug, a missing informer); the pod is retried with back-off.
	Error
	// Unschedulable: the pod does not fit now, but removing pods from the
	// node (preemption) might make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable: the pod does not fit and preemption on
	// this node cannot help (a taint, a label, a cordon).
	UnschedulableAndUnresolvable
	// Skip: returned by PreFilter or PreScore when the plugin has nothing
	// to check for this pod; its Filter or Score is then not called.
	Skip
)

var codeNames = [...]string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Skip"}

func (c Code) String() string {
	if c < 0 || int(c) >= len(codeNames) {
		return "Unknown"
	}
	return codeNames[c]
}

// Status is a plugin's verdict. A nil *Status means Success, so plugins
// return nil on the happy path and every method is safe on nil. A Status
// is immutable once built, so plugins may return one shared value for a
// fixed reason instead of allocating one per node.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with the code and the reasons people read
// ("Insufficient cpu").
func NewStatus(code Code, reasons ...string) *Status {
	s := &Status{code: code, reasons: reasons}
	if code == Error && len(reasons) > 0 {
		s.err = errors.New(strings.Join(reasons, ", "))
	}
	return s
}

// AsStatus wraps an error as an Error status; nil stays nil.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code is the status's code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether the plugin had no objection.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports whether the plugin asked to be skipped for this pod.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected reports whether the pod does not fit (either Unschedulable code).
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons are the human-readable reasons, one per failed check.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin names the plugin that returned the status, once the framework
// has recorded it.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin returns a copy of s that names the plugin that returned it.
func (s *Status) WithPlugin(name string) *Status {
	if s == nil || s.plugin == name {
		return s
	}
	c := *s
	c.plugin = name
	return &c
}

// AsError returns the status as an error: nil for Success and Skip.
func (s *Status) AsError() error {
	switch s.Code() {
	case Success, Skip:
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// Equal compares code and reasons (tests use it).
func (s *Status) Equal(o *Status) bool {
	if s.Code() != o.Code() {
		return false
	}
	a, b := s.Reasons(), o.Reasons()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	if len(s.reasons) == 0 {
		return s.code.String()
	}
	return s.code.String() + ": " + s.Message()
}
