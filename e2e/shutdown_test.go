package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"coracle.dev/shared/testserver"
)

// TestGracefulShutdownEndsWatchesAndExitsZero sends the apiserver a
// termination signal while a client watches, and requires the watch to be
// closed and the process to exit with status 0 within 15 seconds — well
// inside the 30s --shutdown-timeout, so an open watch must not hold the
// shutdown up.
func TestGracefulShutdownEndsWatchesAndExitsZero(t *testing.T) {
	const within = 15 * time.Second
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"SIGINT", syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testserver.Start(t)
			client := s.Client()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			w, err := client.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("watch configmaps: %v", err)
			}
			defer w.Stop()
			// An event through it proves the stream is open before the
			// signal.
			if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-shutdown"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			select {
			case ev := <-w.ResultChan():
				if cm, ok := ev.Object.(*corev1.ConfigMap); ev.Type != watch.Added || !ok || cm.Name != "before-shutdown" {
					t.Fatalf("first watch event: want ADDED before-shutdown, got %s %#v", ev.Type, ev.Object)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no watch event within 30s of creating a configmap")
			}

			sent := time.Now()
			if err := s.Process().Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			deadline := time.NewTimer(within)
			defer deadline.Stop()
			// Each channel is set to nil once it has fired.
			events, done := w.ResultChan(), s.Process().Done()
			for events != nil || done != nil {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
						t.Logf("watch closed %s after %s", time.Since(sent).Round(time.Millisecond), tc.name)
					} else if ev.Type != watch.Error && ev.Type != watch.Bookmark {
						t.Errorf("unexpected watch event during shutdown: %s %#v", ev.Type, ev.Object)
					}
				case <-done:
					done = nil
					t.Logf("apiserver exited %s after %s: %s", time.Since(sent).Round(time.Millisecond), tc.name, s.Process().ExitDescription())
				case <-deadline.C:
					t.Fatalf("%s after %s: watch closed %v, process exited %v", within, tc.name, events == nil, done == nil)
				}
			}
			if code := s.Process().ExitCode(); code != 0 {
				t.Errorf("apiserver exit after %s: %s, want exit status 0", tc.name, s.Process().ExitDescription())
			}
		})
	}
}
