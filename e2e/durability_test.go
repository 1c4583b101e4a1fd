package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"coracle.dev/shared/testserver"
)

// counter updates one ConfigMap's "value" to 1, 2, 3, … one write at a
// time, remembering the last value the apiserver acknowledged and the one
// it was sent last (which, when the server dies, may or may not have been
// stored).
type counter struct {
	ns, name string

	mu        sync.Mutex // guards acked and attempted
	acked     int
	attempted int
}

func (c *counter) state() (acked, attempted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked, c.attempted
}

// run counts up from the stored value until ctx ends or an update fails
// (its outcome is then unknown, so it stops there).
func (c *counter) run(ctx context.Context, client kubernetes.Interface) {
	cms := client.CoreV1().ConfigMaps(c.ns)
	var cm *corev1.ConfigMap
	for cm == nil {
		var err error
		if cm, err = cms.Get(ctx, c.name, metav1.GetOptions{}); err != nil {
			if ctx.Err() != nil {
				return
			}
			cm = nil
			time.Sleep(20 * time.Millisecond)
		}
	}
	n, _ := strconv.Atoi(cm.Data["value"])
	c.mu.Lock()
	c.acked, c.attempted = n, n
	c.mu.Unlock()
	for ctx.Err() == nil {
		next := cm.DeepCopy()
		next.Data["value"] = strconv.Itoa(n + 1)
		c.mu.Lock()
		c.attempted = n + 1
		c.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		updated, err := cms.Update(wctx, next, metav1.UpdateOptions{})
		cancel()
		if err != nil {
			return
		}
		n++
		cm = updated
		c.mu.Lock()
		c.acked = n
		c.mu.Unlock()
	}
}

// TestAcknowledgedWritesSurviveSIGKILL cuts the apiserver (and its
// embedded etcd) off with SIGKILL at a random moment while clients write,
// three times over, and requires every create and update it had
// acknowledged to be there after each restart on the same data directory.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	const (
		ns      = "durability"
		writers = 4
		cycles  = 3
		// Acknowledged creates per cycle before the kill may come.
		minAcks = 20
	)
	s := testserver.Start(t)
	client := s.Client()
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cnt := &counter{ns: ns, name: "counter"}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cnt.name}, Data: map[string]string{"value": "0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("kill moments seeded with %d", seed)

	created := newAcks()
	for cycle := 1; cycle <= cycles; cycle++ {
		before := created.count()
		counterBefore, _ := cnt.state()
		wctx, stopWriters := context.WithCancel(ctx)
		defer stopWriters() // should the test fail before the kill
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() { createConfigMaps(wctx, client, ns, fmt.Sprintf("c%d-w%d", cycle, w), created) })
		}
		wg.Go(func() { cnt.run(wctx, client) })

		eventually(t, 60*time.Second, fmt.Sprintf("cycle %d: %d acknowledged creates and a counter update", cycle, minAcks), func() bool {
			acked, _ := cnt.state()
			return created.count()-before >= minAcks && acked > counterBefore
		})
		// The kill lands at a random moment of the write stream: that
		// moment, not a condition, is what this wait is for.
		delay := 20*time.Millisecond + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
		time.Sleep(delay)
		s.Process().Kill()
		stopWriters()
		wg.Wait()
		acked, attempted := cnt.state()
		failed, lastErr := created.failures()
		t.Logf("cycle %d: SIGKILL %s after %d creates; %d creates acknowledged in all, %d failed (last: %v); counter acknowledged %d, sent %d",
			cycle, delay, minAcks, created.count(), failed, lastErr, acked, attempted)

		s.Restart()
		requireAcknowledged(t, client, ns, created.snapshot())
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, cnt.name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("cycle %d: get counter after restart: %v", cycle, err)
		}
		got, _ := strconv.Atoi(cm.Data["value"])
		if got != acked && got != attempted {
			t.Fatalf("cycle %d: counter is %q after restart; the last update acknowledged set %d (and %d was in flight)", cycle, cm.Data["value"], acked, attempted)
		}
	}

	// A clean restart (SIGTERM, exit 0, start) loses nothing either.
	s.Restart()
	requireAcknowledged(t, client, ns, created.snapshot())
}
