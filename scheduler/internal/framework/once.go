package framework

import "sync"

// onceError keeps the first error reported by parallel workers.
type onceError struct {
	mu  sync.Mutex // guards err
	err error
}

func (o *onceError) set(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
	}
}

func (o *onceError) get() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}
