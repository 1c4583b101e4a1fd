// Package cmderr turns errors into the messages and exit codes kubectl
// prints for them, so that a person who knows kubectl recognises every
// failure: "Error from server (NotFound): pods "x" not found", "error: the
// server doesn't have a resource type "foo"", an Invalid error listing each
// field.
package cmderr

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrExit ends the command with exit code 1 and prints nothing more: the
// command has already said what went wrong.
var ErrExit = errors.New("exit")

// ExitError carries an exit code other than 1, such as the remote
// command's status for exec.
type ExitError struct {
	Code int
	Err  error // printed unless nil
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Usage is an error in how the command was called; it names the help.
func Usage(cmdPath, format string, args ...any) error {
	return fmt.Errorf("%s\nSee '%s -h' for help and examples", fmt.Sprintf(format, args...), cmdPath)
}

// Format returns what ctl prints on standard error for err (ending in a
// newline, or empty) and the exit code.
func Format(err error) (string, int) {
	if err == nil {
		return "", 0
	}
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) && len(agg.Errors()) == 1 {
		err = agg.Errors()[0]
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Err == nil {
			return "", exit.Code
		}
		msg, _ := Format(exit.Err)
		return msg, exit.Code
	}
	if errors.Is(err, ErrExit) {
		return "", 1
	}
	return withNewline(Message(err)), 1
}

// Message is the kubectl wording of one error.
func Message(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && apierrors.IsInvalid(err) {
		return invalid(status.Status())
	}
	if clientcmd.IsConfigurationInvalid(err) {
		return multiline("Error in configuration: ", err)
	}
	var noMatch *meta.NoResourceMatchError
	if errors.As(err, &noMatch) {
		r := noMatch.PartialResource
		switch {
		case r.Group != "" && r.Version != "":
			return fmt.Sprintf("error: the server doesn't have a resource type %q in group %q and version %q", r.Resource, r.Group, r.Version)
		case r.Group != "":
			return fmt.Sprintf("error: the server doesn't have a resource type %q in group %q", r.Resource, r.Group)
		case r.Version != "":
			return fmt.Sprintf("error: the server doesn't have a resource type %q in version %q", r.Resource, r.Version)
		}
		return fmt.Sprintf("error: the server doesn't have a resource type %q", r.Resource)
	}
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		var lines []string
		for _, e := range utilerrors.Flatten(agg).Errors() {
			lines = append(lines, strings.TrimSuffix(Message(e), "\n"))
		}
		return strings.Join(lines, "\n")
	}
	if msg, ok := standard(err); ok {
		return msg
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "error: ") {
		msg = "error: " + msg
	}
	return msg
}

// standard words API status errors and connection failures.
func standard(err error) (string, bool) {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		switch {
		case s.Reason == metav1.StatusReasonUnauthorized:
			return fmt.Sprintf("error: You must be logged in to the server (%s)", s.Message), true
		case s.Reason != "":
			return fmt.Sprintf("Error from server (%s): %s", s.Reason, s.Message), true
		default:
			return fmt.Sprintf("Error from server: %s", s.Message), true
		}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if strings.Contains(uerr.Err.Error(), "connection refused") {
			host := uerr.URL
			if u, perr := url.Parse(uerr.URL); perr == nil {
				host = u.Host
			}
			return fmt.Sprintf("The connection to the server %s was refused - did you specify the right host or port?", host), true
		}
		return fmt.Sprintf("Unable to connect to the server: %v", uerr.Err), true
	}
	return "", false
}

// invalid lists each field of a 422 Invalid answer on its own line.
func invalid(s metav1.Status) string {
	head := "The request is invalid"
	d := s.Details
	if d == nil {
		return head
	}
	if d.Kind != "" || d.Name != "" {
		head = fmt.Sprintf("The %s %q is invalid", d.Kind, d.Name)
	}
	var causes []string
	seen := map[string]bool{}
	for _, c := range d.Causes {
		msg := fmt.Sprintf("%s: %s", c.Field, c.Message)
		if !seen[msg] {
			seen[msg] = true
			causes = append(causes, msg)
		}
	}
	switch len(causes) {
	case 0:
		return head
	case 1:
		return head + ": " + causes[0]
	}
	var b strings.Builder
	b.WriteString(head + ": \n")
	for _, c := range causes {
		b.WriteString("* " + c + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func multiline(prefix string, err error) string {
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		errs := utilerrors.Flatten(agg).Errors()
		if len(errs) > 1 {
			var b strings.Builder
			b.WriteString(prefix + "\n")
			for _, e := range errs {
				b.WriteString("* " + e.Error() + "\n")
			}
			return strings.TrimSuffix(b.String(), "\n")
		}
	}
	return prefix + err.Error()
}

func withNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// WithSource prefixes an error with the file it came from, as kubectl's
// `error when creating "web.yaml": ...`, keeping an API status an API
// status so that it still prints as "Error from server (...)".
func WithSource(verb, source string, err error) error {
	if source == "" || err == nil {
		return err
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && !apierrors.IsInvalid(err) {
		s := status.Status()
		s.Message = fmt.Sprintf("error when %s %q: %s", verb, source, s.Message)
		return &apierrors.StatusError{ErrStatus: s}
	}
	if apierrors.IsInvalid(err) {
		return err
	}
	return fmt.Errorf("error when %s %q: %w", verb, source, err)
}
