package perf

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// client-go's event sink logs through klog when the run's apiserver
	// is gone while events are still queued (they are best effort).
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
