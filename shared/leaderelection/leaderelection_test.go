package leaderelection_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"coracle.dev/shared/leaderelection"
	"coracle.dev/shared/testserver"
)

func TestOneLeaderAndTakeover(t *testing.T) {
	ts := testserver.Start(t)
	client := kubernetes.NewForConfigOrDie(ts.Config)
	var working atomic.Int32
	var aLed, bLed atomic.Bool
	start := func(id string, led *atomic.Bool) (context.CancelFunc, <-chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- leaderelection.Run(ctx, leaderelection.Config{
				Client: client, Name: "test-component", Identity: id,
				LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
			}, func(ctx context.Context) {
				led.Store(true)
				if working.Add(1) > 1 {
					t.Errorf("two replicas working at once")
				}
				<-ctx.Done()
				working.Add(-1)
			})
		}()
		return cancel, done
	}
	cancelA, doneA := start("a", &aLed)
	deadline := time.Now().Add(20 * time.Second)
	for !aLed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("a never led")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancelB, doneB := start("b", &bLed)
	defer func() { cancelB(); <-doneB }()
	time.Sleep(3 * time.Second) // longer than a lease: b must still wait
	if bLed.Load() {
		t.Fatal("b led while a held the lease")
	}
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatalf("a: %v", err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for !bLed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("b never took over")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
