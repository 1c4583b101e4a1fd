package etcdstore

import (
	"errors"
	"fmt"
)

// Sentinel errors of the etcd store. Callers test them with errors.Is and
// turn them into Kubernetes status errors.
var (
	// ErrNotFound: no object at the key.
	ErrNotFound = errors.New("storage: key not found")
	// ErrExists: create found an object already at the key.
	ErrExists = errors.New("storage: key exists")
	// ErrConflict: the object changed since the revision the caller read.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrCompacted: the requested revision is older than etcd keeps.
	ErrCompacted = errors.New("storage: revision compacted")
	// ErrClaimed: a key that a write claims for itself is already taken.
	ErrClaimed = errors.New("storage: claim taken")
)

// ClaimError says which claimed key was already taken.
type ClaimError struct {
	Key string
}

func (e *ClaimError) Error() string { return fmt.Sprintf("storage: claim %s taken", e.Key) }

// Is makes errors.Is(err, ErrClaimed) true.
func (e *ClaimError) Is(target error) bool { return target == ErrClaimed }
