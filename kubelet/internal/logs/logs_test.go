package logs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func write(t *testing.T, w *Writer, stream, text string) {
	t.Helper()
	if err := w.Copy(stream, strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string, opts Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Read(context.Background(), path, opts, &b, nil, nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c", "0.log")
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, Stdout, "one\ntwo\n")
	write(t, w, Stderr, "three\nfour")
	w.Close()
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), " stdout F one\n") || !strings.Contains(string(raw), " stderr P four\n") {
		t.Fatalf("CRI format: %q", raw)
	}
	all := Options{TailLines: -1}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"everything", all, "one\ntwo\nthree\nfour"},
		{"tail counts whole lines", Options{TailLines: 3}, "two\nthree\nfour"},
		// The last line, unfinished when the stream ended, is a line
		// (upstream counts it too).
		{"tail takes the unfinished last line", Options{TailLines: 1}, "four"},
		{"tail 0 is nothing", Options{TailLines: 0}, ""},
		{"limit bytes cuts", Options{TailLines: -1, LimitBytes: 6}, "one\ntw"},
		{"since the future is nothing", Options{TailLines: -1, Since: time.Now().Add(time.Hour)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := read(t, path, tt.opts); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
	ts := read(t, path, Options{TailLines: 2, Timestamps: true})
	if _, err := time.Parse(time.RFC3339Nano, strings.Fields(ts)[0]); err != nil || !strings.Contains(ts, " three\n") || !strings.HasSuffix(ts, " four") {
		t.Errorf("timestamps: %q", ts)
	}
}

func TestLongLinesAreSplitAndJoined(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, _ := NewWriter(path, 0, 1)
	long := strings.Repeat("x", 40000)
	write(t, w, Stdout, long+"\nshort\n")
	w.Close()
	if got := read(t, path, Options{TailLines: -1}); got != long+"\nshort\n" {
		t.Errorf("long line not joined back: %d bytes", len(got))
	}
	if got := read(t, path, Options{TailLines: 2}); got != long+"\nshort\n" {
		t.Errorf("tail of a split line: %d bytes", len(got))
	}
}

func TestRotationKeepsNewestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, _ := NewWriter(path, 200, 3)
	for i := 0; i < 50; i++ {
		write(t, w, Stdout, "0123456789\n")
	}
	write(t, w, Stdout, "last\n")
	w.Close()
	if n := len(Rotated(path)); n != 2 {
		t.Errorf("%d rotated files, want 2 (3 files in all)", n)
	}
	got := read(t, path, Options{TailLines: -1})
	if !strings.HasSuffix(got, "0123456789\nlast\n") || strings.Count(got, "\n") > 15 {
		t.Errorf("read across rotated files: %q", got)
	}
}

func TestFollowAcrossRotationUntilExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	// Enough files kept that none is deleted before it is read.
	w, _ := NewWriter(path, 100, 50)
	write(t, w, Stdout, "before\n")
	var exited atomic.Bool
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, Options{TailLines: -1, Follow: true}, pw, nil, exited.Load)
		pw.Close()
	}()
	go func() {
		time.Sleep(200 * time.Millisecond)
		for i := 0; i < 20; i++ {
			write(t, w, Stdout, "follow-line\n")
		}
		write(t, w, Stdout, "end\n")
		time.Sleep(300 * time.Millisecond)
		exited.Store(true)
	}()
	out, _ := io.ReadAll(pr)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "before\n") || strings.Count(string(out), "follow-line\n") != 20 || !strings.HasSuffix(string(out), "end\n") {
		t.Errorf("followed %q", out)
	}
}
