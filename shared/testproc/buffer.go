package testproc

import (
	"bytes"
	"sync"
)

// Buffer collects a background process's output (or any writer's) for
// a test that reads it while it is written: a bytes.Buffer safe for one
// writer and concurrent readers.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
