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
	keep := func(e entry) bool { return opts.Since.IsZero() || !e.t.Before(opts.Since) }

	// The current file is opened first and read through this one
	// descriptor, and following goes on from where that read stopped: a
	// line written or a rotation made in between is neither lost nor
	// read twice.
	cur, err := os.Open(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if cur != nil {
		defer func() { cur.Close() }()
	}
	var files []string
	for _, p := range Rotated(path) {
		if cur != nil && sameFile(cur, p) {
			break // ours, rotated away since it was opened
		}
		files = append(files, p)
	}

	var rest []byte // an unfinished last line of cur
	if opts.TailLines >= 0 {
		rest, err = readTail(files, cur, opts.TailLines, keep, out)
	} else {
		for _, f := range files {
			if err = readFile(f, keep, out); err != nil {
				break
			}
		}
		if err == nil && cur != nil {
			rest, err = scan(cur, keep, out.emit)
		}
	}
	if errors.Is(err, errLimit) {
		return nil
	}
	if err != nil || !opts.Follow {
		return err
	}
	err = follow(ctx, cur, rest, path, keep, out, exited)
	if errors.Is(err, errLimit) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
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
	_, err = scan(f, keep, out.emit)
	return err
}

// scan emits the complete lines of r and returns what follows the last
// one (a line being written).
func scan(r io.Reader, keep func(entry) bool, emit func(entry) error) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if e, ok := parse(line[:len(line)-1]); ok && keep(e) {
				if err := emit(e); err != nil {
					return nil, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readTail emits the entries that make up the last n lines of the files
// and then of cur (if not nil); it returns cur's unfinished last line.
func readTail(files []string, cur *os.File, n int64, keep func(entry) bool, out *output) ([]byte, error) {
	var lines [][]entry // each line: partial entries then the final one
	var pending []entry
	collect := func(e entry) error {
		e.content = append([]byte(nil), e.content...)
		pending = append(pending, e)
		if !e.partial {
			lines = append(lines, pending)
			pending = nil
			if int64(len(lines)) > n {
				lines = lines[1:]
			}
		}
		return nil
	}
	for _, p := range files {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		_, err = scan(f, keep, collect)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	var rest []byte
	if cur != nil {
		var err error
		if rest, err = scan(cur, keep, collect); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return rest, nil
	}
	// A last line the container never ended (`echo -n DONE`; its exit
	// ended it) is a line too.
	if len(pending) > 0 {
		lines = append(lines, pending)
		if int64(len(lines)) > n {
			lines = lines[1:]
		}
	}
	for _, l := range lines {
		for _, e := range l {
			if err := out.emit(e); err != nil {
				return nil, err
			}
		}
	}
	return rest, nil
}

// follow reads what is appended to f (path's file, read up to its
// current offset, with pending its unfinished last line), going on into
// the newer files when it is rotated, until ctx ends or exited reports
// true and everything was read. A nil f waits for path to appear.
func follow(ctx context.Context, f *os.File, pending []byte, path string, keep func(entry) bool, out *output, exited func() bool) error {
	for f == nil {
		nf, err := os.Open(path)
		if err == nil {
			f = nf
			defer func() { f.Close() }()
			break
		}
		if !os.IsNotExist(err) {
			return err
		}
		if exited != nil && exited() {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	pending = append([]byte(nil), pending...)
	br := bufio.NewReaderSize(f, 64*1024)
	emitLine := func(l []byte) error {
		if e, ok := parse(l); ok && keep(e) {
			return out.emit(e)
		}
		return nil
	}
	for {
		line, err := br.ReadBytes('\n')
		pending = append(pending, line...)
		if err == nil {
			if err := emitLine(pending[:len(pending)-1]); err != nil {
				return err
			}
			pending = pending[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		// Sampled before looking for a rotation: once the container has
		// exited nothing more is written, so what is seen next is final.
		done := exited != nil && exited()
		// At the end: rotated away? Then the rest is in the newer files.
		if rotated(f, path) {
			// A rotated file is complete: finish it first (it may have
			// grown between the end seen above and its rotation).
			for {
				line, err := br.ReadBytes('\n')
				pending = append(pending, line...)
				if err != nil {
					break
				}
				if err := emitLine(pending[:len(pending)-1]); err != nil {
					return err
				}
				pending = pending[:0]
			}
			// The current file is opened before the rotated ones are
			// listed, so one rotated in between is in the list.
			nf, err := os.Open(path)
			if os.IsNotExist(err) {
				// Renamed, its successor not created yet: a moment.
				if err := sleep(ctx, 10*time.Millisecond); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if err := readNewer(f, nf, path, keep, out); err != nil {
				nf.Close()
				return err
			}
			f.Close()
			f = nf
			br.Reset(f)
			pending = pending[:0]
			continue
		}
		if done {
			// One more read: the writer may have just written its last.
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				pending = append(pending, rest...)
				for _, l := range bytes.SplitAfter(pending, []byte{'\n'}) {
					if len(l) > 0 && l[len(l)-1] == '\n' {
						if err := emitLine(l[:len(l)-1]); err != nil {
							return err
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
// rotated away while being followed) and older than next (path's file
// now, which may itself have been rotated since it was opened).
func readNewer(f, next *os.File, path string, keep func(entry) bool, out *output) error {
	mine, err := f.Stat()
	if err != nil {
		return nil
	}
	nextInfo, err := next.Stat()
	if err != nil {
		return err
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
		if info, err := os.Stat(p); err == nil && os.SameFile(info, nextInfo) {
			break
		}
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
