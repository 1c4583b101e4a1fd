package component

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"coracle.dev/shared/statusserver"
	"coracle.dev/shared/version"
)

type settings struct {
	Greeting string `mapstructure:"greeting"`
}

func daemon(run func(ctx context.Context, s settings, log *zap.Logger) error) Daemon[settings] {
	return Daemon[settings]{
		Name:     "toyd",
		AddFlags: func(fs *pflag.FlagSet) { fs.String("greeting", "hello", "what to say") },
		Defaults: func() settings { return settings{Greeting: "hello"} },
		Run:      run,
	}
}

func TestDaemonMain(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		runErr     error
		wantCode   int
		wantRun    string // the greeting Run saw; "" if Run must not run
		wantStdout string
		wantStderr string
	}{
		{name: "defaults", wantRun: "hello"},
		{name: "flag", args: []string{"--greeting", "hi"}, wantRun: "hi"},
		{name: "environment", env: map[string]string{"CORACLE_GREETING": "hey"}, wantRun: "hey"},
		{name: "version", args: []string{"--version"}, wantStdout: version.String() + "\n"},
		{name: "help", args: []string{"--help"}},
		{name: "unknown flag", args: []string{"--nope"}, wantCode: 1, wantStderr: "toyd: unknown flag: --nope\n"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantCode: 1, wantStderr: `toyd: log level "loud"`},
		{name: "run fails", runErr: boom, wantCode: 1, wantRun: "hello", wantStderr: "toyd: boom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var ran string
			d := daemon(func(ctx context.Context, s settings, log *zap.Logger) error {
				if log == nil {
					t.Error("Run got no logger")
				}
				ran = s.Greeting
				return tt.runErr
			})
			var stdout, stderr bytes.Buffer
			code := d.main(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if ran != tt.wantRun {
				t.Errorf("Run saw greeting %q, want %q", ran, tt.wantRun)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.wantStdout)
			}
			if !strings.HasPrefix(stderr.String(), tt.wantStderr) || (tt.wantStderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want it to start with %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestServeStatusReadyzFollowsReady(t *testing.T) {
	var l Lifecycle
	s := statusserver.New("127.0.0.1:0", nil)
	if err := l.ServeStatus(s, "started", "not started yet"); err != nil {
		t.Fatal(err)
	}
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + s.Addr() + "/readyz?verbose")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started yet") {
		t.Fatalf("before MarkReady: %d %q", code, body)
	}
	l.MarkReady()
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("after MarkReady: %d %q", code, body)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/readyz"); err == nil {
		t.Fatal("status server still answers after Close")
	}
}
