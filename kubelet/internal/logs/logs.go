// Package logs writes container output to files in the CRI logging format
// Kubernetes uses ("2026-01-02T15:04:05.999999999Z stdout F text"), one
// file per container attempt, rotated by size, and reads them back for
// the kubelet API: tail, since, timestamps, byte limit, and follow (across
// rotations, until the container has exited).
package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Stream names.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// maxLine is the longest entry; longer lines are split into partial
// entries (tag P), as the CRI format does.
const maxLine = 16 * 1024

// Writer appends entries to a log file, rotating it when it grows past
// maxSize: the full file is renamed to FILE.<timestamp> and at most
// maxFiles files (the current one included) are kept.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex // guards f and size
	f    *os.File
	size int64
}

// NewWriter opens path for appending.
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if maxFiles < 1 {
		maxFiles = 1
	}
	return &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles, f: f, size: info.Size()}, nil
}

// Copy writes everything read from r as entries of stream until r ends.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			full := line[len(line)-1] == '\n'
			if full {
				line = line[:len(line)-1]
			}
			if werr := w.write(time.Now(), stream, !full, line); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

func (w *Writer) write(t time.Time, stream string, partial bool, content []byte) error {
	tag := "F"
	if partial {
		tag = "P"
	}
	var b bytes.Buffer
	b.Grow(len(content) + 48)
	b.WriteString(t.UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(content)
	b.WriteByte('\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.maxSize > 0 && w.size > 0 && w.size+int64(b.Len()) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b.Bytes())
	w.size += int64(n)
	return err
}

// rotate renames the current file and opens a new one; w.mu must be held.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	rotated := w.path + "." + time.Now().UTC().Format("20060102-150405.000000000")
	if err := os.Rename(w.path, rotated); err != nil {
		return err
	}
	old := Rotated(w.path)
	for len(old) > w.maxFiles-1 {
		_ = os.Remove(old[0])
		old = old[1:]
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	w.f, w.size = f, 0
	return nil
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Rotated lists the rotated files of path, oldest first.
func Rotated(path string) []string {
	matches, _ := filepath.Glob(path + ".*")
	var out []string
	for _, m := range matches {
		if !strings.HasSuffix(m, ".tmp") {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Options select what Read returns, as the pod log API's parameters.
type Options struct {
	Follow bool
	// TailLines, if ≥ 0, returns only the last lines.
	TailLines int64
	// Since drops entries older than this.
	Since      time.Time
	Timestamps bool
	// LimitBytes, if > 0, stops after this many bytes.
	LimitBytes int64
}

// entry is one parsed log line.
type entry struct {
	t       time.Time
	stream  string
	partial bool
	content []byte
}

func parse(line []byte) (entry, bool) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return entry{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return entry{}, false
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return entry{}, false
	}
	tag, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return entry{}, false
	}
	return entry{t: t, stream: string(stream), partial: string(tag) == "P", content: content}, true
}

// errLimit ends reading at LimitBytes.
var errLimit = errors.New("byte limit reached")

type output struct {
	w          io.Writer
	timestamps bool
	left       int64 // bytes left; <0 for no limit
	flush      func()
}

func (o *output) emit(e entry) error {
	var b bytes.Buffer
	if o.timestamps {
		b.WriteString(e.t.UTC().Format(time.RFC3339Nano))
		b.WriteByte(' ')
	}
	b.Write(e.content)
	if !e.partial {
		b.WriteByte('\n')
	}
	data := b.Bytes()
	if o.left >= 0 {
		if int64(len(data)) > o.left {
			data = data[:o.left]
		}
		o.left -= int64(len(data))
	}
	if _, err := o.w.Write(data); err != nil {
		return err
	}
	if o.left == 0 {
		return errLimit
	}
	return nil
}

// Read writes the log at path (its rotated files first) to w as opts ask.
// With Follow it keeps reading as the file grows and is rotated, until
// ctx ends or exited reports true and everything was read. flush, if
// set, is called whenever Read is about to wait.
func Read(ctx context.Context, path string, opts Options, w io.Writer, flush func(), exited func() bool) error {
	if flush == nil {
		flush = func() {}
	}
	out := &output{w: w, timestamps: opts.Timestamps, left: -1, flush: flush}
	if opts.LimitBytes > 0 {
		out.left = opts.LimitBytes
	}
	files := append(Rotated(path), path)
	keep := func(e entry) bool { return opts.Since.IsZero() || !e.t.Before(opts.Since) }

	var err error
	if opts.TailLines >= 0 {
		err = readTail(files, opts.TailLines, keep, out)
	} else {
		for _, f := range files[:len(files)-1] {
			if err = readFile(f, keep, out); err != nil {
				break
			}
		}
		if err == nil {
			err = readFile(path, keep, out)
		}
	}
	if errors.Is(err, errLimit) {
		return nil
	}
	if err != nil || !opts.Follow {
		return err
	}
	err = follow(ctx, path, keep, out, exited)
	if errors.Is(err, errLimit) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func readFile(path string, keep func(entry) bool, out *output) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return scan(f, keep, out.emit)
}

func scan(r io.Reader, keep func(entry) bool, emit func(entry) error) error {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if e, ok := parse(line[:len(line)-1]); ok && keep(e) {
				if err := emit(e); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readTail emits the entries that make up the last n lines.
func readTail(files []string, n int64, keep func(entry) bool, out *output) error {
	var lines [][]entry // each line: partial entries then the final one
	var cur []entry
	for _, p := range files {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		err = scan(f, keep, func(e entry) error {
			e.content = append([]byte(nil), e.content...)
			cur = append(cur, e)
			if !e.partial {
				lines = append(lines, cur)
				cur = nil
				if int64(len(lines)) > n {
					lines = lines[1:]
				}
			}
			return nil
		})
		f.Close()
		if err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	for _, l := range lines {
		for _, e := range l {
			if err := out.emit(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// follow reads what is appended to path from its current end, reopening
// it when it is rotated.
func follow(ctx context.Context, path string, keep func(entry) bool, out *output, exited func() bool) error {
	f, err := os.Open(path)
	for os.IsNotExist(err) {
		if exited != nil && exited() {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
		f, err = os.Open(path)
	}
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 64*1024)
	var pending []byte
	for {
		line, err := br.ReadBytes('\n')
		pending = append(pending, line...)
		if err == nil {
			if e, ok := parse(pending[:len(pending)-1]); ok && keep(e) {
				if err := out.emit(e); err != nil {
					return err
				}
			}
			pending = pending[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		// At the end: rotated away? Then the rest is in the new file.
		if rotated(f, path) {
			// Files rotated after ours, oldest first, then the current.
			if err := readNewer(f, path, keep, out); err != nil {
				return err
			}
			f.Close()
			nf, err := os.Open(path)
			if err != nil {
				return err
			}
			f = nf
			br.Reset(f)
			pending = pending[:0]
			continue
		}
		done := exited != nil && exited()
		if done {
			// One more read: the writer may have just written its last.
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				pending = append(pending, rest...)
				for _, l := range bytes.SplitAfter(pending, []byte{'\n'}) {
					if len(l) > 0 && l[len(l)-1] == '\n' {
						if e, ok := parse(l[:len(l)-1]); ok && keep(e) {
							if err := out.emit(e); err != nil {
								return err
							}
						}
					}
				}
			}
			out.flush()
			return nil
		}
		out.flush()
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// readNewer reads whole the rotated files of path newer than f (which was
// rotated away while being followed).
func readNewer(f *os.File, path string, keep func(entry) bool, out *output) error {
	mine, err := f.Stat()
	if err != nil {
		return nil
	}
	files := Rotated(path)
	after := -1
	for i, p := range files {
		if info, err := os.Stat(p); err == nil && os.SameFile(info, mine) {
			after = i
		}
	}
	if after < 0 {
		return nil
	}
	for _, p := range files[after+1:] {
		if err := readFile(p, keep, out); err != nil {
			return err
		}
	}
	return nil
}

func rotated(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	return !os.SameFile(a, b)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// String describes options for logs.
func (o Options) String() string {
	return fmt.Sprintf("follow=%v tail=%d since=%v timestamps=%v limit=%d", o.Follow, o.TailLines, o.Since, o.Timestamps, o.LimitBytes)
}
