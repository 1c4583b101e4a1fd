package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// writeTimeout bounds one write; a write that takes longer counts as
// failed (its outcome unknown), never as acknowledged.
const writeTimeout = 10 * time.Second

// acks records the ConfigMaps whose create the apiserver acknowledged,
// and the writes that failed.
type acks struct {
	mu      sync.Mutex        // guards names, errs and lastErr
	names   map[string]string // name -> the data value it was created with
	errs    int
	lastErr error
}

func newAcks() *acks { return &acks{names: map[string]string{}} }

func (a *acks) ack(name, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.names[name] = value
}

func (a *acks) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs++
	a.lastErr = err
}

// count is how many creates were acknowledged.
func (a *acks) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.names)
}

// failures is how many writes failed, and the last error.
func (a *acks) failures() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.errs, a.lastErr
}

func (a *acks) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.names))
	for k, v := range a.names {
		out[k] = v
	}
	return out
}

// createConfigMaps creates ConfigMaps prefix-00000, prefix-00001, … in ns
// one after another until ctx ends, recording each in a only once its
// create returned success. A failed create is counted and the next name
// tried: its outcome is unknown, so it is never recorded.
func createConfigMaps(ctx context.Context, client kubernetes.Interface, ns, prefix string, a *acks) {
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		value := name + "/" + strconv.Itoa(i)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"value": value}}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		_, err := client.CoreV1().ConfigMaps(ns).Create(wctx, cm, metav1.CreateOptions{})
		cancel()
		if err == nil {
			a.ack(name, value)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		a.fail(err)
		// Back off a little so a writer does not spin while the
		// server is down or electing.
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// requireAcknowledged fails the test unless every acknowledged ConfigMap
// exists in ns with the value it was created with.
func requireAcknowledged(t *testing.T, client kubernetes.Interface, ns string, want map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list configmaps in %s: %v", ns, err)
	}
	have := map[string]string{}
	for _, cm := range list.Items {
		have[cm.Name] = cm.Data["value"]
	}
	var missing, wrong []string
	for name, value := range want {
		got, ok := have[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case got != value:
			wrong = append(wrong, fmt.Sprintf("%s=%q (want %q)", name, got, value))
		}
	}
	sort.Strings(missing)
	sort.Strings(wrong)
	if len(missing) > 0 || len(wrong) > 0 {
		t.Fatalf("of %d acknowledged creates, %d are missing %s and %d have the wrong data %s (list at resourceVersion %s holds %d)",
			len(want), len(missing), firstFew(missing), len(wrong), firstFew(wrong), list.ResourceVersion, len(list.Items))
	}
}

func firstFew(s []string) string {
	if len(s) > 10 {
		return fmt.Sprintf("%q…", s[:10])
	}
	return fmt.Sprintf("%q", s)
}

// eventually polls cond every 50ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
