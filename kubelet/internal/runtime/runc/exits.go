package runc

import (
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Changes implements kruntime.Runtime.
func (r *Runtime) Changes() <-chan types.UID { return r.changes }

// watchExits notices exit records of containers, so their pods sync at
// once instead of at the next resync.
func (r *Runtime) watchExits() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		var exited []types.UID
		for dir, uid := range r.live {
			if _, err := os.Stat(filepath.Join(dir, "exit.json")); err == nil {
				delete(r.live, dir)
				exited = append(exited, uid)
			} else if _, err := os.Stat(dir); err != nil {
				delete(r.live, dir)
			}
		}
		r.mu.Unlock()
		for _, uid := range exited {
			select {
			case r.changes <- uid:
			default:
			}
		}
	}
}

func (r *Runtime) watch(dir string, uid types.UID) {
	r.mu.Lock()
	r.live[dir] = uid
	r.mu.Unlock()
}
